import Foundation
import XCTest

/// The names of `host`'s commands. Each is given explicitly in its configuration (not
/// derived from the type's name by reflection, which costs start-up time): these are the
/// names users type and the docs use, and they must not change.
final class CommandNamesTests: XCTestCase {
    /// The names `host [COMMAND] --help` lists under SUBCOMMANDS, in order.
    func subcommands(_ command: [String]) throws -> [String] {
        let help = try host(command + ["--help"])
        XCTAssertEqual(help.status, 0, help.stderr)
        guard let start = help.stdout.range(of: "SUBCOMMANDS:") else {
            XCTFail("no SUBCOMMANDS in:\n\(help.stdout)")
            return []
        }
        var names: [String] = []
        for line in help.stdout[start.upperBound...].split(separator: "\n", omittingEmptySubsequences: false).dropFirst() {
            // A command's line starts with two blanks; its wrapped abstract with more.
            guard line.hasPrefix("  "), !line.hasPrefix("   ") else {
                if line.trimmingCharacters(in: .whitespaces).isEmpty { break } else { continue }
            }
            if let name = line.split(separator: " ").first { names.append(String(name)) }
        }
        return names
    }

    func testEveryCommandKeepsItsName() throws {
        XCTAssertEqual(try subcommands([]), ["list-plugins", "describe-plugin", "validate", "run", "test-plugin", "spool", "silence",
                                            "runs", "alerts", "incidents", "serve"])
        XCTAssertEqual(try subcommands(["runs"]), ["list", "show"])
        XCTAssertEqual(try subcommands(["silence"]), ["add", "list", "expire"])
    }
}
