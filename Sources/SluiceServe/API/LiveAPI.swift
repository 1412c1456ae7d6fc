import Hummingbird
import SluiceEngine

extension Dashboard {
    func addLiveRoutes(_ router: Router<BasicRequestContext>) {
    }
}
