import Foundation
@testable import SluiceEngine
import XCTest

final class WidgetsTests: XCTestCase {
    func parse(_ text: String) throws -> Widgets { try Widgets.parse(Data(text.utf8)) }

    func problems(_ text: String) -> [String] {
        do {
            _ = try parse(text)
            return []
        } catch let e as WidgetsError {
            return e.problems
        } catch {
            return ["unexpected \(error)"]
        }
    }

    func testFullFile() throws {
        let w = try parse("""
        {
          "metadata": {"spec-version": "1.5", "name": "Geo", "type": "transform"},
          "display-name": "Geofence", "description": "Alerts on leaving a fence",
          "emitsAlerts": true, "emitsErrors": false,
          "configuration-groups": [
            {"label": "Fence", "properties": [
              {"name": "radius", "label": "Radius (m)", "widget-type": "number", "required": true, "default": 250},
              {"name": "apiKey", "widget-type": "textbox", "secret": true, "description": "maps key"},
              {"name": "strict", "widget-type": "toggle", "widget-attributes": {"default": true}}
            ]}
          ],
          "outputs": [{"name": "records", "widget-type": "records"}],
          "functions": [{"name": "haversine_m", "args": ["double", "double", "double", "double"], "returns": "double"}]
        }
        """)
        XCTAssertEqual(w.specVersion, "1.5")
        XCTAssertEqual(w.declaredName, "Geo")
        XCTAssertEqual(w.declaredType, .transform)
        XCTAssertEqual(w.displayName, "Geofence")
        XCTAssertTrue(w.emitsAlerts)
        XCTAssertFalse(w.emitsErrors)
        XCTAssertEqual(w.properties.map(\.name), ["radius", "apiKey", "strict"])
        XCTAssertEqual(w.properties[0].label, "Radius (m)")
        XCTAssertEqual(w.properties[0].defaultValue, "250")
        XCTAssertTrue(w.properties[0].required)
        XCTAssertTrue(w.properties[1].secret)
        XCTAssertEqual(w.properties[1].label, "apiKey", "label defaults to the name")
        XCTAssertEqual(w.properties[2].defaultValue, "true", "CDAP's widget-attributes.default")
        XCTAssertEqual(w.outputs.map(\.name), ["records"])
        XCTAssertEqual(w.functions.first?.symbol, "haversine_m", "symbol defaults to the name")
        XCTAssertEqual(w.functions.first?.signature, "double haversine_m(double, double, double, double)")
    }

    func testCDAPSpellingsAreAccepted() throws {
        let w = try parse(#"{"metadata": {"spec-version": "1.0"}, "emit-alerts": true, "emit-errors": true}"#)
        XCTAssertTrue(w.emitsAlerts)
        XCTAssertTrue(w.emitsErrors)
        XCTAssertEqual(problems(#"{"metadata": {"spec-version": "1.0"}, "emit-alerts": true, "emitsAlerts": false}"#),
                       ["emit-alerts: says true but emitsAlerts says false"])
    }

    func testEveryProblemIsReportedAtOnceWithItsPath() {
        let p = problems("""
        {
          "metadata": {},
          "emitsAlerts": "yes",
          "configuration-groups": [
            {"label": "A", "properties": [
              {"label": "no name", "widget-type": "textbox"},
              {"name": "x", "widget-type": 3},
              {"name": "x", "widget-type": "textbox", "default": [1]}
            ]}
          ],
          "functions": [{"name": "f", "args": ["complex"], "returns": "double"}, {"name": "g", "args": []}]
        }
        """)
        XCTAssertEqual(Set(p), [
            "metadata.spec-version: is required",
            "emitsAlerts: must be true or false, not a string",
            "configuration-groups[0].properties[0].name: is required",
            "configuration-groups[0].properties[1].widget-type: must be a string, not a number",
            "configuration-groups[0].properties[2].name: 'x' is already defined at configuration-groups[0].properties[1].name",
            "configuration-groups[0].properties[2].default: must be a string, number or boolean, not an array",
            "functions[0].args[0]: unknown type 'complex' (one of bool, int32, int64, uint32, uint64, double, float, string)",
            "functions[1].returns: is required",
        ])
    }

    func testMalformedJSONSaysWhere() {
        let p = problems("{\n  \"metadata\": {\"spec-version\": \"1.0\"},\n  \"emitsAlerts\": tru\n}")
        XCTAssertEqual(p.count, 1)
        XCTAssertTrue(p[0].hasPrefix("malformed JSON: "), p[0])
        XCTAssertTrue(p[0].contains("line 3"), p[0])
    }

    func testNotAnObject() {
        XCTAssertEqual(problems("[1, 2]"), ["$: a widgets file must be a JSON object, not an array"])
    }
}
