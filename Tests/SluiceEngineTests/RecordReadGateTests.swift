import Foundation
import XCTest

/// The gate that keeps the host reading records only through the sr_get family
/// (sluice_records.h): a lazy record (a host handle, ABI 1.7) has no fields[] and nfields 0,
/// so any host code that reads a record the ABI-1.0 way silently finds nothing in it. Outside
/// Sources/SluiceRecords (which implements the reader), no source file may read a record or
/// a container directly, except the reviewed exceptions below, each of which reads only
/// records it built or parsed itself (never a handle).
final class RecordReadGateTests: XCTestCase {
    /// What a direct read looks like: the ABI's inline readers, indexing a record's or a
    /// container's arrays, a record's field count, a container's array (assigning one, as
    /// code that builds a value does, is not a read).
    static let patterns = [
        #"sluice_record_get"#, #"sluice_record_find"#, #"sluice_object_get"#, #"sluice_object_find"#,
        #"(\.|->)fields[?!]?\["#,
        #"as\.(items|fields)\b(?!\s*=[^=])"#,
        #"(\.|->)nfields\b"#,
    ]

    /// File (under Sources/) → why its direct reads are safe. Each must still have one.
    static let exceptions = [
        "SluiceEngine/Alerts/AlertSpool.swift":
            "reads the spool lines it parsed itself with RecordParser (sr_parse_record: always flat)",
    ]

    /// Every direct read in `text`, as "line: text"; comments are not code.
    static func directReads(in text: String) -> [String] {
        let regexes = patterns.compactMap { try? NSRegularExpression(pattern: $0) }
        var found: [String] = []
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var code = String(line)
            let trimmed = code.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("*") || trimmed.hasPrefix("/*") { continue }
            if let comment = code.range(of: "//") { code = String(code[..<comment.lowerBound]) }
            let range = NSRange(code.startIndex..., in: code)
            if regexes.contains(where: { $0.firstMatch(in: code, range: range) != nil }) {
                found.append("\(n + 1): \(trimmed)")
            }
        }
        return found
    }

    func testNoHostCodeReadsRecordsAroundTheReader() throws {
        let sources = Package.root + "/Sources"
        guard let walker = FileManager.default.enumerator(atPath: sources) else { return XCTFail("cannot list \(sources)") }
        var checked = 0
        var offenders: [String] = []
        var excepted = Set<String>()
        for case let path as String in walker {
            guard ["swift", "c", "cpp", "h", "hpp"].contains((path as NSString).pathExtension),
                  !path.hasPrefix("SluiceRecords/") else { continue }
            let text = try String(contentsOfFile: sources + "/" + path, encoding: .utf8)
            checked += 1
            let reads = Self.directReads(in: text)
            guard !reads.isEmpty else { continue }
            if Self.exceptions[path] != nil {
                excepted.insert(path)
                continue
            }
            offenders += reads.map { "Sources/\(path):\($0)" }
        }
        XCTAssertGreaterThan(checked, 100, "the walk found the sources")
        XCTAssertEqual(offenders, [], """
            host code reads records or containers directly: a lazy record (a handle) has no fields[] and \
            nfields 0, so these find nothing in it. Read through sr_get, sr_find, sr_count, sr_field_at, \
            sr_member, sr_member_at or sr_item (sluice_records.h)
            """)
        // An exception that no longer reads anything directly leaves the list.
        XCTAssertEqual(excepted, Set(Self.exceptions.keys), "exceptions without a direct read: remove them")
    }

    /// The gate sees what it is meant to, and not comments or code that builds values.
    func testTheGateCatchesEveryKindOfDirectRead() {
        for offending in ["const sluice_value *v = sluice_record_get(r, key);", "x = r->fields[i].value;",
                          "let f = record.fields?[0]", "v = obj.as.items[k];", "for (i = 0; i < r->nfields; i++)",
                          "let p = Fields(value.as.fields, Int(value.len))", "sluice_object_find(o, n, l)"] {
            XCTAssertEqual(Self.directReads(in: offending).count, 1, offending)
        }
        for fine in ["v.as.items = items;", "out.as.fields = objects.back().data();", "// r->fields[0] in a comment",
                     " * as.items in a block comment", "sr_get(r, key, &v)", "s->derived[k]"] {
            XCTAssertEqual(Self.directReads(in: fine), [], fine)
        }
    }
}
