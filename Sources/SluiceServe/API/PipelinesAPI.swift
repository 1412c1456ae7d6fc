import Hummingbird
import SluiceEngine

extension Dashboard {
    func addPipelineRoutes(_ router: Router<BasicRequestContext>) {
    }
}
