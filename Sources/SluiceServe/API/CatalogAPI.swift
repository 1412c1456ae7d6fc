import Hummingbird
import SluiceEngine

extension Dashboard {
    func addCatalogRoutes(_ router: Router<BasicRequestContext>) {
    }
}
