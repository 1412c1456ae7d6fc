import Foundation
import Hummingbird
import SluiceEngine

/// docs/api.md, "Catalog": the plugins this host would load, as `host list-plugins --json`
/// lists them (CatalogReport), each with its extra output ports (`outputs`) and its properties as
/// `host describe-plugin` describes them (a secret one's default masked), and the refused
/// libraries with their reasons. The catalog is read at the first request (probing every
/// library takes a while), on the blocking queue, then kept.
extension Dashboard {
    func addCatalogRoutes(_ router: Router<BasicRequestContext>) {
        let catalog = self.catalog
        router.get("api/v1/catalog") { _, _ in
            await Blocking.run { API.object(Self.catalogJSON(catalog.value)) }
        }
    }

    static func catalogJSON(_ catalog: Catalog) -> [String: Any] {
        let plugins = catalog.entries.map { e -> [String: Any] in
            let d = CatalogReport.describe(e, in: catalog)
            var o = jsonObject(d.plugin)
            for key in ["displayName", "description"] where o[key] == nil { o[key] = NSNull() }
            // Its extra output ports (Filter's "rejected"), as a graph's stage lists them.
            o["outputs"] = e.extraPorts
            o["properties"] = d.properties.map { p -> [String: Any] in
                ["name": p.name, "label": p.label, "type": p.type, "typeSummary": p.typeSummary, "widgetType": p.widgetType,
                 "required": p.required, "secret": p.secret, "group": p.group,
                 // describe-plugin says only whether a secret has a default; so does this.
                 "default": (p.secret ? p.defaultValue.map { _ in Redactor.mask } : p.defaultValue) ?? NSNull(),
                 "description": p.description ?? NSNull(), "values": p.values ?? NSNull(),
                 "min": p.min ?? NSNull(), "max": p.max ?? NSNull()]
            }
            return o
        }
        let problems = catalog.problems.map { p -> [String: Any] in
            ["severity": p.severity.rawValue, "file": p.file, "plugin": p.plugin ?? NSNull(), "message": p.message]
        }
        return ["plugins": plugins, "problems": problems, "searchPath": catalog.locations.map(jsonObject)]
    }

    /// An Encodable value as Foundation's JSON objects.
    private static func jsonObject<T: Encodable>(_ value: T) -> [String: Any] {
        guard let data = try? JSONEncoder().encode(value),
              let o = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { return [:] }
        return o
    }
}
