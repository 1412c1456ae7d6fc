import Hummingbird
import SluiceEngine

extension Dashboard {
    func addPageRoutes(_ router: Router<BasicRequestContext>) {
    }
}
