import Hummingbird
import SluiceEngine

extension Dashboard {
    func addSilenceRoutes(_ router: Router<BasicRequestContext>) {
    }
}
