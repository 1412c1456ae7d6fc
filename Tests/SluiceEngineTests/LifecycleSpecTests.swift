import Foundation
@testable import SluiceEngine
import XCTest

/// The alerts section's life settings as a pipeline file gives them (issue 22), read and
/// checked with their paths.
final class LifecycleSpecTests: XCTestCase {
    func read(_ alerts: String) throws -> (AlertSettings?, [String]) {
        let json = #"{"name": "p", "stages": [{"name": "q", "plugin": {"name": "QualityCheck"}, "alerts": "# + alerts + "}]}"
        let (spec, problems) = PipelineSpec.read(try ConfigDocument.parse(Data(json.utf8), format: .json))
        return (spec.stages.first?.alerts, problems.map(\.description))
    }

    func testAMonitorsSettingsAreRead() throws {
        let (a, problems) = try read("""
        {"groupBy": ["store_id"], "aggregates": [{"name": "bad_events", "function": "count"}],
         "window": {"sizeMs": 300000, "slideMs": 60000, "timeField": "ts", "allowedLatenessMs": 30000},
         "condition": "bad_events >= 5", "recover": "bad_events < 2",
         "forMs": 60000, "keepFiringMs": 120000, "renotifyMs": 3600000, "severity": "critical", "maxKeys": 5000}
        """)
        XCTAssertEqual(problems, [])
        let life = try XCTUnwrap(a?.lifecycle)
        XCTAssertEqual(life.window, .init(sizeMs: 300_000, slideMs: 60_000, timeField: "ts", allowedLatenessMs: 30_000))
        XCTAssertEqual([life.condition, life.recover, life.severity], ["bad_events >= 5", "bad_events < 2", "critical"])
        XCTAssertEqual([life.forMs, life.keepFiringMs, life.renotifyMs, life.maxKeys], [60_000, 120_000, 3_600_000, 5_000])
    }

    func testWithoutAConditionTheSectionIsAsBefore() throws {
        let (a, problems) = try read(#"{"groupBy": ["store_id"]}"#)
        XCTAssertEqual(problems, [])
        XCTAssertNil(a?.lifecycle)
        let (_, orphan) = try read(#"{"window": {"sizeMs": 1000}, "forMs": 5}"#)
        XCTAssertEqual(orphan, ["error: stages[0].alerts.window: needs a condition: the expression that says when a key is alerting",
                                "error: stages[0].alerts.forMs: needs a condition: the expression that says when a key is alerting"])
    }

    func testEveryBadWindowIsReportedWithItsPath() throws {
        let (_, problems) = try read("""
        {"condition": "n > 1", "window": {"slideMs": 10, "extra": 1}, "forMs": -1}
        """)
        XCTAssertTrue(problems.contains("error: stages[0].alerts.window.sizeMs: is required"), "\(problems)")
        XCTAssertTrue(problems.contains("warning: stages[0].alerts.window.extra: unknown key 'extra' is ignored"), "\(problems)")
        XCTAssertTrue(problems.contains { $0.hasPrefix("error: stages[0].alerts.forMs: must be a whole number from 0") }, "\(problems)")
        let (_, slides) = try read(#"{"condition": "n > 1", "window": {"sizeMs": 1000, "slideMs": 300}}"#)
        XCTAssertEqual(slides, ["error: stages[0].alerts.window.slideMs: must divide sizeMs (1000) into whole slides"])
        let (_, many) = try read(#"{"condition": "n > 1", "window": {"sizeMs": 100000, "slideMs": 10}}"#)
        XCTAssertEqual(many, ["error: stages[0].alerts.window.slideMs: makes 10000 buckets a window: at most 1000"])
    }

    func testTheExpressionsAreCheckedAtValidate() throws {
        let json = #"{"name": "p", "stages": [{"name": "q", "plugin": {"name": "QualityCheck", "properties": {"field": "x", "min": 1}}, "#
            + #""alerts": {"groupBy": ["s"], "aggregates": [{"name": "n", "function": "count"}], "condition": "n >=", "recover": "n < 2"}}]}"#
        let (spec, _) = PipelineSpec.read(try ConfigDocument.parse(Data(json.utf8), format: .json))
        let (_, planned) = PipelinePlanner.plan(spec, catalog: testCatalog, environment: [:])
        XCTAssertTrue(planned.contains { $0.path == "stages[0].alerts.condition" && $0.severity == .error }, "\(planned)")
        XCTAssertFalse(planned.contains { $0.path == "stages[0].alerts.recover" }, "\(planned)")
    }
}
