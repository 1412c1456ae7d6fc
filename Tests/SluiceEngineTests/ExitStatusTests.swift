import Foundation
import SluiceEngine
import SluiceGuard
import XCTest

/// `host`'s exit statuses are one list, ExitStatus: the C guard's constants, `host run
/// --help`, the table in docs/pipelines.md and every exit code README and docs mention
/// must agree with it.
final class ExitStatusTests: XCTestCase {
    func text(_ path: String) throws -> String {
        try String(contentsOfFile: Package.root + "/" + path, encoding: .utf8)
    }

    /// Every match of `pattern`'s first group in `text`.
    func matches(_ pattern: String, in text: String) -> [String] {
        let regex = try! NSRegularExpression(pattern: pattern, options: [.caseInsensitive])
        return regex.matches(in: text, range: NSRange(text.startIndex..., in: text)).compactMap { m in
            (1..<m.numberOfRanges).lazy.compactMap { Range(m.range(at: $0), in: text).map { String(text[$0]) } }.first
        }
    }

    /// `text` from the first `start` to the paragraph's end (a blank line).
    func paragraph(_ text: String, from start: String) throws -> String {
        let from = try XCTUnwrap(text.range(of: start), "'\(start)' not found").lowerBound
        let end = text.range(of: "\n\n", range: from..<text.endIndex)?.lowerBound ?? text.endIndex
        return String(text[from..<end])
    }

    func codes(_ texts: [String]) -> Set<Int32> { Set(texts.compactMap { Int32($0) }) }

    func testTheGuardsConstantsAreTheEnumsStatuses() {
        XCTAssertEqual(SG_EXIT_STOPPED, ExitStatus.stopped.rawValue)
        XCTAssertEqual(SG_EXIT_PLUGIN_EXIT, ExitStatus.pluginExit.rawValue)
        XCTAssertEqual(Set(ExitStatus.allCases.map(\.rawValue)).count, ExitStatus.allCases.count, "one meaning per code")
    }

    func testRunHelpListsEveryStatusWithItsMeaning() throws {
        let help = try host(["run", "--help"])
        XCTAssertEqual(help.status, ExitStatus.ok.rawValue, help.stderr)
        // The help is wrapped to the terminal's width: compare with whitespace collapsed.
        let flat = help.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        for status in ExitStatus.allCases {
            let line = "\(status.rawValue) " + status.meaning.replacingOccurrences(of: "`", with: "")
            XCTAssertTrue(flat.contains(line), "run --help does not say '\(line)':\n\(help.stdout)")
        }
        // A usage error is ArgumentParser's, with the status the list gives it.
        let usage = try host(["run"])
        XCTAssertEqual(usage.status, ExitStatus.usage.rawValue, usage.stderr)
        XCTAssertTrue(usage.stderr.contains("Missing expected argument '<file>'"), usage.stderr)
    }

    func testTheDocsTableIsTheEnum() throws {
        let docs = try text("docs/pipelines.md")
        let section = try XCTUnwrap(docs.range(of: "## `host run FILE`")).upperBound
        let table = try XCTUnwrap(docs.range(of: "Exit codes", range: section..<docs.endIndex)).upperBound
        var rows: [(Int32, String)] = []
        for line in docs[table...].split(separator: "\n", omittingEmptySubsequences: false).drop(while: { !$0.hasPrefix("|") }) {
            guard line.hasPrefix("|") else { break }
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count == 2, let code = Int32(cells[0]) else { continue }  // the header and its rule
            rows.append((code, cells[1]))
        }
        XCTAssertEqual(rows.map(\.0), ExitStatus.allCases.map(\.rawValue), "the codes of docs/pipelines.md's table")
        for (code, meaning) in rows {
            XCTAssertEqual(meaning, ExitStatus(rawValue: code)?.meaning, "docs/pipelines.md's row for \(code)")
        }
    }

    func testREADMEsSentenceNamesEveryStatus() throws {
        let sentence = try paragraph(try text("README.md"), from: "`host run` exits ")
        let named = codes(matches(#"(?:exits |, )(\d+) when"#, in: sentence))
        XCTAssertEqual(named, Set(ExitStatus.allCases.map(\.rawValue)), sentence)
    }

    /// The other places that list or mention exit codes: each code must be one of the list,
    /// and the lists must be found (a test that finds nothing checks nothing).
    func testEveryExitCodeTheDocsMentionIsAStatus() throws {
        let statuses = Set(ExitStatus.allCases.map(\.rawValue))
        let fm = FileManager.default
        func readmes(_ folder: String) -> [String] {
            ((try? fm.contentsOfDirectory(atPath: Package.root + "/" + folder)) ?? []).sorted()
                .map { "\(folder)/\($0)/README.md" }.filter { fm.fileExists(atPath: Package.root + "/" + $0) }
        }
        let docs = ((try? fm.contentsOfDirectory(atPath: Package.root + "/docs")) ?? []).filter { $0.hasSuffix(".md") }.map { "docs/" + $0 }
        let files = ["README.md", "PluginSDK/README.md", "PluginSDK/include/sluice_plugin.h"] + docs.sorted()
            + readmes("Plugins") + readmes("examples") + readmes("tools")
        var mentions = 0
        for file in files {
            let t = try text(file)
            let mentioned = matches(#"\bexit(?:s|ed|ing)?(?: with)?(?: (?:code|status))? `?(\d+)`?\b"#, in: t)
            mentions += mentioned.count
            let found = codes(mentioned)
            XCTAssertTrue(found.isSubset(of: statuses), "\(file) mentions exit code(s) \(found.subtracting(statuses).sorted()) that ExitStatus does not have")
        }
        XCTAssertGreaterThanOrEqual(mentions, 20, "the exit codes the docs mention were found")

        // The lists: the catalog commands' (README), test-plugin's (docs/pipelines.md).
        let catalog = try paragraph(try text("README.md"), from: "Exit codes of the catalog commands:")
        let catalogCodes = codes(matches(#"`(\d+)`"#, in: catalog))
        XCTAssertEqual(catalogCodes, Set([ExitStatus.ok, .failed, .usage].map(\.rawValue)), catalog)
        let testPlugin = try paragraph(try text("docs/pipelines.md"), from: "- Exit status: ")
        let testPluginCodes = codes(matches(#"(?:: |, )(\d+) "#, in: testPlugin))
        XCTAssertEqual(testPluginCodes, Set([ExitStatus.ok, .failed, .invalid, .undelivered].map(\.rawValue)), testPlugin)
    }
}
