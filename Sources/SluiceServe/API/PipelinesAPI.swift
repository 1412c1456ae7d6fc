import Hummingbird
import SluiceEngine

extension Dashboard {
    func addPipelineRoutes(_ router: Router<BasicRequestContext>) {
        // (i24-state: only /api/v1/session, which the silences' CSRF check needs; the
        // pipelines slice owns this file.)
        router.get("api/v1/session") { _, _ in API.object(["csrfToken": self.csrfToken]) }
    }
}
