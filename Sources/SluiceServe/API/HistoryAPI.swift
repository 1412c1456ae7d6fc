import Hummingbird
import SluiceEngine

extension Dashboard {
    func addHistoryRoutes(_ router: Router<BasicRequestContext>) {
    }
}
