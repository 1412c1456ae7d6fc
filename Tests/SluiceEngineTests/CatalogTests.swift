import Foundation
@testable import SluiceEngine
import SluicePluginABI
import XCTest

final class CatalogTests: XCTestCase {
    // MARK: the bundled examples

    func testBundledExamplesAreListedWithTheirCapabilities() throws {
        let c = catalog([], bundled: true)
        XCTAssertEqual(c.problems, [], "the bundled catalog has no problems")
        let addFields = try c.find(name: "AddFields").get()
        XCTAssertEqual(addFields.type, .transform)
        XCTAssertEqual(addFields.version.text, "1.0.0")
        XCTAssertFalse(addFields.widgets.emitsAlerts)
        XCTAssertEqual(addFields.location.origin, .bundled)
        XCTAssertTrue(addFields.libraryPath.hasSuffix("/libAddFields.so"))
        XCTAssertTrue(addFields.widgetsPath.hasSuffix("widgets/AddFields-transform.json"))

        let threshold = try c.find(name: "Threshold").get()
        XCTAssertEqual(threshold.type, .transform)
        XCTAssertTrue(threshold.widgets.emitsAlerts)
        XCTAssertTrue(threshold.widgets.emitsErrors)
        XCTAssertTrue(threshold.libraryPath.hasSuffix("/libThreshold.so"))
    }

    func testBundledExamplesAreDescribed() throws {
        let c = catalog([], bundled: true)
        let d = CatalogReport.describe(try c.find(name: "Threshold").get(), in: c)
        XCTAssertEqual(d.properties.map(\.name), ["field", "limit", "direction", "include"])
        XCTAssertEqual(d.properties.filter(\.required).map(\.name), ["field", "limit"])
        XCTAssertEqual(d.properties.first { $0.name == "direction" }?.defaultValue, "above")
        XCTAssertEqual(d.ports.map { "\($0.direction) \($0.name)" }, ["in records", "out records", "out errors", "out alerts"])
        XCTAssertEqual(d.functions, [])

        let a = CatalogReport.describe(try c.find(name: "AddFields").get(), in: c)
        XCTAssertEqual(a.properties.map(\.name), ["fields", "overwrite"])
        XCTAssertEqual(a.ports.map { "\($0.direction) \($0.name)" }, ["in records", "out records"])
        let text = CatalogReport.describeText(try c.find(name: "AddFields").get(), in: c)
        XCTAssertTrue(text.contains("AddFields 1.0.0 (transform)"), text)
        XCTAssertTrue(text.contains("emits alerts:  no"), text)
    }

    // MARK: a third-party folder built with plain cc

    func testPluginBuiltOutsideSwiftPMLoadsWithAllItsTypes() throws {
        let c = catalog([Fixtures.shared.kit])
        XCTAssertEqual(c.problems, [])
        XCTAssertEqual(c.entries.filter { $0.libraryPath != PluginOrigin.builtInLabel }.map { "\($0.name) \($0.type.rawValue)" },
                       ["EchoPublisher alertpublisher", "FileSink sink", "ListSource source", "Tagger transform"])
        let tagger = try c.find(name: "Tagger", type: .transform).get()
        XCTAssertEqual(tagger.location.origin, .flag)
        XCTAssertEqual(tagger.widgetsPath, Fixtures.shared.kit + "/Tagger-transform.json")
        // CDAP's spelling of the flag is accepted.
        XCTAssertTrue(try c.find(name: "ListSource").get().widgets.emitsErrors)
    }

    func testDescribeShowsFunctionsAndHidesSecrets() throws {
        let c = catalog([Fixtures.shared.kit])
        let entry = try c.find(name: "Tagger").get()
        let d = CatalogReport.describe(entry, in: c)
        XCTAssertEqual(d.functions.map(\.signature), ["double scale(double, int32)"])
        XCTAssertEqual(d.functions.first?.symbol, "kit_scale")
        let token = try XCTUnwrap(d.properties.first { $0.name == "token" })
        XCTAssertTrue(token.secret, "widget-type password makes a property secret")
        XCTAssertEqual(token.defaultValue, "(secret)")
        let text = CatalogReport.describeText(entry, in: c)
        let json = CatalogReport.describeJSON(entry, in: c)
        XCTAssertFalse(text.contains("s3cr3t-default"), text)
        XCTAssertFalse(json.contains("s3cr3t-default"), json)
        XCTAssertTrue(text.contains("password (secret)"), text)
    }

    // MARK: broken files

    func testEachBrokenFileGetsOneClearLineAndGoodPluginsStayListed() throws {
        let broken = Fixtures.shared.broken
        let c = catalog([broken, Fixtures.shared.kit], bundled: true)
        func lines(_ file: String) -> [String] {
            c.problems.filter { $0.file == broken + "/" + file }.map(\.description)
        }
        func one(_ file: String, _ needle: String, line: UInt = #line) {
            let l = lines(file)
            XCTAssertEqual(l.count, 1, "\(file): \(l)", line: line)
            XCTAssertTrue(l.first?.contains(needle) == true, "\(file): \(l)", line: line)
        }
        one("libnotes.so", "not a shared library: the file does not start with an ELF header")
        one("libtruncated.so", "cannot load the library")
        one("libobject.so", "not a shared library: an ELF relocatable object (.o)")
        one("libno_entry.so", "no entry symbol 'sluice_plugin_entry'")
        one("libabi_mismatch.so", "built for ABI 2.3, this host speaks ABI 1.\(SLUICE_ABI_MINOR)")
        one("WrongType-transform.json", "the widgets file says type 'sink', the library says 'transform'")
        one("MissingFunction-transform.json", "function 'nope' names symbol 'nope_not_exported', which the library does not export")
        one("Malformed-transform.json", "malformed widgets file: malformed JSON")
        let descriptorLines = lines("libbad_descriptors.so")
        XCTAssertEqual(descriptorLines.count, 2, "\(descriptorLines)")
        XCTAssertTrue(descriptorLines.contains { $0.contains("plugin 'NoProcess': a transform needs the function(s) process, which are NULL") })
        XCTAssertTrue(descriptorLines.contains { $0.contains("plugin 'BadVersion': version 'one' is not a semantic version") })
        let mismatchLines = lines("libmismatch.so")
        XCTAssertEqual(mismatchLines.count, 1, "\(mismatchLines)")
        XCTAssertTrue(mismatchLines[0].contains("NoWidgets (transform): widgets file missing: no NoWidgets-transform.json"))

        // Every good plugin is still there.
        let names = Set(c.entries.map(\.name))
        XCTAssertTrue(names.isSuperset(of: ["AddFields", "Threshold", "Tagger", "ListSource", "FileSink", "EchoPublisher", "PassThrough"]), "\(names)")
        XCTAssertFalse(names.contains("WrongType"))
        XCTAssertFalse(names.contains("NoProcess"))
    }

    func testMalformedWidgetsNamesTheJSONError() throws {
        let c = catalog([Fixtures.shared.broken])
        let line = try XCTUnwrap(c.problems.first { $0.file.hasSuffix("Malformed-transform.json") })
        XCTAssertTrue(line.message.contains("a key in double quotes expected at line 3, column 45"), line.message)
    }

    func testMissingFolderIsReported() {
        let c = catalog(["/nonexistent/sluice-plugins"])
        XCTAssertEqual(c.problems.map(\.description), ["error: /nonexistent/sluice-plugins: --plugins names a folder that does not exist"])
    }

    // MARK: versions and search order

    func testSeveralVersionsCoexistAndThePinnedOrHighestIsUsed() throws {
        let c = catalog([Fixtures.shared.kit, Fixtures.shared.kit2])
        XCTAssertEqual(c.problems, [])
        XCTAssertEqual(c.versions(of: "Tagger").map(\.version.text), ["1.0.0", "2.0.0"])
        XCTAssertEqual(try c.find(name: "Tagger").get().version.text, "2.0.0")
        XCTAssertEqual(try c.find(name: "Tagger", version: "1.0.0").get().version.text, "1.0.0")
        XCTAssertEqual(try c.find(name: "Tagger", version: "1.0.0").get().libraryPath, Fixtures.shared.kit + "/libkit.so")
        // widgets/ beside the library is searched too.
        XCTAssertEqual(try c.find(name: "Tagger").get().widgetsPath, Fixtures.shared.kit2 + "/widgets/Tagger-transform.json")
        guard case .failure(let e) = c.find(name: "Tagger", version: "3.0.0") else { return XCTFail("3.0.0 found") }
        XCTAssertEqual(e.description, "transform plugin 'Tagger' has no version 3.0.0; available: 1.0.0, 2.0.0")
        guard case .failure(let u) = c.find(name: "tagger") else { return XCTFail("found with wrong case") }
        XCTAssertEqual(u.description, "no plugin named 'tagger' in the catalog (did you mean Tagger?)")
    }

    func testSearchOrderFlagThenEnvironmentThenBundledAndShadowing() throws {
        let locations = PluginSearchPath.locations(
            pluginDirectories: [Fixtures.shared.kit],
            environment: [PluginSearchPath.environmentVariable: Fixtures.shared.kit2 + ":" + Fixtures.shared.kit],
            includeBundled: true)
        XCTAssertEqual(locations.map(\.origin), [.flag, .environment, .bundled])
        XCTAssertEqual(locations.map(\.directory), [Fixtures.shared.kit, Fixtures.shared.kit2, Package.buildDirectory])

        // The same plugin and version in a second folder is shadowed by the first.
        let copy = Fixtures.shared.root + "/kit-copy"
        try? FileManager.default.removeItem(atPath: copy)
        try FileManager.default.copyItem(atPath: Fixtures.shared.kit, toPath: copy)
        let c = catalog([Fixtures.shared.kit, copy])
        XCTAssertEqual(try c.find(name: "Tagger").get().libraryPath, Fixtures.shared.kit + "/libkit.so")
        let shadowed = c.problems.filter { $0.file == copy + "/libkit.so" }
        XCTAssertEqual(shadowed.count, 4)
        XCTAssertTrue(shadowed.allSatisfy { $0.severity == .warning && $0.message.contains("is shadowed by \(Fixtures.shared.kit)/libkit.so") })
    }

    func testOrphanWidgetsFileIsReported() throws {
        let dir = Fixtures.shared.root + "/orphan"
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Package.fixtures + "/widgets/Tagger-transform.json", toPath: dir + "/Ghost-transform.json")
        let c = catalog([dir])
        XCTAssertEqual(c.problems.map(\.description), ["warning: \(dir)/Ghost-transform.json: Ghost (transform): no library in \(dir) exports this plugin"])
    }

    func testSemanticVersionOrder() {
        let ordered = ["0.9.0", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0", "1.2.0", "1.10.0", "2.0.0"]
        let versions = ordered.map { SemanticVersion($0)! }
        XCTAssertEqual(versions.shuffled().sorted().map(\.text), ordered)
        XCTAssertNil(SemanticVersion("1.0"))
        XCTAssertNil(SemanticVersion("v1.0.0"))
        XCTAssertNil(SemanticVersion("1.0.0-"))
        XCTAssertEqual(SemanticVersion("1.0.0+build.5"), SemanticVersion("1.0.0"))
    }
}
