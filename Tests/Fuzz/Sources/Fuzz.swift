// Fuzz targets for what Sluice reads from outside: the record parser (eager, and lazy
// against it and simdjson), the expression
// parser and evaluator, and the pipeline reader (with planning). Built by tools/fuzz with
// libFuzzer and AddressSanitizer (`swift build --sanitize fuzzer --sanitize address
// -Xswiftc -DSLUICE_FUZZ`); the target is named by SLUICE_FUZZ_TARGET. Each target checks
// more than "no crash" where the code promises more (see each function).
// Without SLUICE_FUZZ (a plain `swift build`) this is a stub that says how to run it.
import Foundation
import SluiceEngine
import SluicePluginABI
import SluiceRecords

/// The targets by name: each gets one input and must return normally. (libFuzzer calls
/// one input at a time on one thread, hence the unchecked globals.)
nonisolated(unsafe) let targets: [String: (UnsafeRawBufferPointer) -> Void] = [
    "records": fuzzRecords,
    "lazy": fuzzLazyRecords,
    "expressions": fuzzExpressions,
    "pipelines": fuzzPipelines,
]

/// A promise the code under test broke: stop at once, naming it (libFuzzer saves the input).
func broken(_ what: String) -> Never {
    FileHandle.standardError.write(Data("fuzz: broken promise: \(what)\n".utf8))
    abort()
}

// MARK: records

nonisolated(unsafe) let lineParser: OpaquePointer = {
    guard let p = sr_line_parser_new(1) else { broken("no line parser") }
    return p
}()
nonisolated(unsafe) let lineArena: OpaquePointer = {
    guard let a = sr_arena_new(1 << 20) else { broken("no arena") }
    return a
}()
let recordParser = RecordParser()

/// The input as JSON Lines. Promises: every non-blank line is either a record or a bad line
/// (none lost, none twice, in order); the line parser (with its fast path for compact
/// JSON) and the one-record parser agree on each line; a record rendered back to JSON
/// parses again to the same rendering.
func fuzzRecords(_ data: UnsafeRawBufferPointer) {
    sr_arena_reset(lineArena)
    // simdjson may read SR_PADDING bytes past the end.
    let padded = UnsafeMutableRawBufferPointer.allocate(byteCount: data.count + Int(SR_PADDING), alignment: 64)
    defer { padded.deallocate() }
    padded.initializeMemory(as: UInt8.self, repeating: 0)
    if let base = data.baseAddress { padded.baseAddress?.copyMemory(from: base, byteCount: data.count) }
    let text = padded.baseAddress?.assumingMemoryBound(to: CChar.self)

    var records: UnsafePointer<sluice_record>?
    var nrecords = 0
    var bad: UnsafePointer<sr_bad_line>?
    var nbad = 0
    var arenas: [OpaquePointer?] = [lineArena]
    let status = arenas.withUnsafeMutableBufferPointer { a in
        sr_parse_lines(lineParser, a.baseAddress, text, data.count, &records, &nrecords, &bad, &nbad)
    }
    guard status == 0 else { return }  // memory ran out: nothing to check

    // The non-blank lines, as the parser counts them (split on \n, \r\n taken as \n).
    var lines: [(number: Int, bytes: UnsafeRawBufferPointer)] = []
    var start = 0, number = 0
    for i in 0...data.count where i == data.count || data[i] == 0x0A {
        var end = i
        if end > start, data[end - 1] == 0x0D { end -= 1 }
        let line = UnsafeRawBufferPointer(rebasing: data[start..<end])
        if !line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { lines.append((number, line)) }
        start = i + 1
        number += 1
    }
    if start > data.count, lines.last?.bytes.count == 0 { lines.removeLast() }
    guard nrecords + nbad == lines.count else {
        broken("\(lines.count) non-blank lines gave \(nrecords) records and \(nbad) bad lines")
    }
    var r = 0, b = 0
    for line in lines {
        let one = RecordArena()
        let single = try? recordParser.parse(line.bytes, into: one)
        if b < nbad, let bl = bad?[b], Int(bl.line) == line.number {
            b += 1
            if single != nil { broken("line \(line.number): the line parser refused it, the record parser took it") }
            continue
        }
        guard r < nrecords, let record = records?[r] else { broken("line \(line.number): neither a record nor a bad line") }
        r += 1
        guard let single else { broken("line \(line.number): the line parser took it, the record parser refused it") }
        let rendered = RecordJSON.render(record)
        if RecordJSON.render(single) != rendered {
            broken("line \(line.number): the two parsers disagree: \(rendered) vs \(RecordJSON.render(single))")
        }
        let again = RecordArena()
        guard let reparsed = try? recordParser.parse(rendered, into: again) else { broken("a rendered record does not parse: \(rendered)") }
        if RecordJSON.render(reparsed) != rendered { broken("rendering is not stable: \(rendered)") }
    }
}

// MARK: lazy records

nonisolated(unsafe) let lazyLineParser: OpaquePointer = {
    guard let p = sr_line_parser_new(1) else { broken("no line parser") }
    sr_line_parser_set_mode(p, Int32(SR_PARSE_LAZY))
    return p
}()
nonisolated(unsafe) let lazyArena: OpaquePointer = {
    guard let a = sr_arena_new(1 << 20) else { broken("no arena") }
    return a
}()
nonisolated(unsafe) let lazyBatchArena: OpaquePointer = {
    guard let a = sr_arena_new(1 << 20) else { broken("no arena") }
    return a
}()

/// A value in full, read through the reader's functions (host containers and flat alike).
func readBack(_ value: sluice_value) -> String {
    var v = value
    switch Int32(v.type) {
    case SLUICE_ARRAY:
        var items: [String] = []
        for i in 0..<v.len {
            var item = sluice_value()
            guard sr_item(&v, i, &item) == 1 else { broken("item \(i) of \(v.len) cannot be read") }
            items.append(readBack(item))
        }
        return "[" + items.joined(separator: ",") + "]"
    case SLUICE_OBJECT:
        var members: [String] = []
        for i in 0..<v.len {
            var f = sluice_field()
            guard sr_member_at(&v, i, &f) == 1 else { broken("member \(i) of \(v.len) cannot be read") }
            var byKey = sluice_value()
            if f.key != sluice_key(SLUICE_NO_KEY), sr_member(&v, f.key, nil, 0, &byKey) != 1 { broken("a member not found by its key") }
            members.append(String(decoding: UnsafeRawBufferPointer(start: f.name, count: Int(f.name_len)), as: UTF8.self).debugDescription
                           + ":" + readBack(f.value))
        }
        return "{" + members.joined(separator: ",") + "}"
    case SLUICE_DOUBLE: return "d\(v.as.d.bitPattern)"
    default: return RecordJSON.render(v)
    }
}

func readBack(_ record: sluice_record) -> String {
    var r = record
    var out: [String] = []
    for i in 0..<sr_count(&r) {
        var f = sluice_field()
        guard sr_field_at(&r, i, &f) == 1 else { broken("field \(i) cannot be read") }
        out.append(String(decoding: UnsafeRawBufferPointer(start: f.name, count: Int(f.name_len)), as: UTF8.self).debugDescription
                   + "=" + readBack(f.value))
    }
    return out.joined(separator: ";")
}

func renderFast(_ record: sluice_record) -> String {
    var buf = sr_buf()
    defer { sr_buf_free(&buf) }
    var r = record
    if sr_render_record_json(&buf, &r) != 0 { broken("a record does not render") }
    return String(decoding: UnsafeRawBufferPointer(start: buf.data, count: buf.len), as: UTF8.self)
}

/// The input as JSON Lines, read lazily. Promises: the lazy parser takes and refuses
/// exactly the lines the eager parser does (the same line numbers, each with simdjson's
/// reason for that line alone) and exactly the lines simdjson takes as objects; each record reads back (through the
/// reader) to the eager record's values; it renders by option A (its line without the
/// surrounding blanks, or the general renderer's text when a name is given twice); its
/// materialised record has the same values and renders the same.
func fuzzLazyRecords(_ data: UnsafeRawBufferPointer) {
    sr_arena_reset(lineArena)
    sr_arena_reset(lazyArena)
    sr_arena_reset(lazyBatchArena)
    let padded = UnsafeMutableRawBufferPointer.allocate(byteCount: data.count + Int(SR_PADDING), alignment: 64)
    defer { padded.deallocate() }
    padded.initializeMemory(as: UInt8.self, repeating: 0)
    if let base = data.baseAddress { padded.baseAddress?.copyMemory(from: base, byteCount: data.count) }
    let text = padded.baseAddress?.assumingMemoryBound(to: CChar.self)

    func parse(_ parser: OpaquePointer, _ arena: OpaquePointer) -> ([sluice_record], [sr_bad_line])? {
        var records: UnsafePointer<sluice_record>?
        var bad: UnsafePointer<sr_bad_line>?
        var n = 0, nbad = 0
        var arenas: [OpaquePointer?] = [arena]
        let status = arenas.withUnsafeMutableBufferPointer { a in
            sr_parse_lines(parser, a.baseAddress, text, data.count, &records, &n, &bad, &nbad)
        }
        guard status == 0 else { return nil }
        return (Array(UnsafeBufferPointer(start: records, count: n)), Array(UnsafeBufferPointer(start: bad, count: nbad)))
    }
    guard let (eager, eagerBad) = parse(lineParser, lineArena), let (lazy, lazyBad) = parse(lazyLineParser, lazyArena) else { return }
    guard eager.count == lazy.count, eagerBad.count == lazyBad.count else {
        broken("eager: \(eager.count) records, \(eagerBad.count) bad lines; lazy: \(lazy.count), \(lazyBad.count)")
    }
    // The same bad lines, each with simdjson's reason for that line alone. (The eager
    // parser's reason for a line can depend on the lines around it: in a stream of lines,
    // "false[" is a document that is not an object, alone it is bad JSON.)
    for (e, l) in zip(eagerBad, lazyBad) {
        var lr = l.reason
        let reason = withUnsafeBytes(of: &lr) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if e.line != l.line { broken("bad lines \(e.line) and \(l.line)") }
        let alone: String
        do {
            _ = try recordParser.parse(UnsafeRawBufferPointer(start: l.text, count: l.len), into: RecordArena())
            alone = "accepted"
        } catch {
            alone = "\(error)"
        }
        if reason != alone { broken("bad line \(l.line): the reason is \(reason), simdjson's for the line alone \(alone)") }
    }
    // The non-blank lines, without their ends and surrounding blanks: each is a record or a
    // bad line; a record is an object simdjson reads alone.
    let blank: Set<UInt8> = [0x20, 0x09, 0x0D]
    var lines: [ArraySlice<UInt8>] = []
    var number = 0
    let bytes = Array(data)
    var badLines = Set(lazyBad.map { Int($0.line) })
    for var line in bytes.split(separator: 0x0A, omittingEmptySubsequences: false) {
        defer { number += 1 }
        while let c = line.first, blank.contains(c) { line = line.dropFirst() }
        while let c = line.last, blank.contains(c) { line = line.dropLast() }
        if line.isEmpty { continue }
        if badLines.remove(number) == nil { lines.append(line) }
    }
    guard lines.count == lazy.count else { broken("\(lines.count) good lines gave \(lazy.count) records") }
    for (i, (er, lr)) in zip(eager, lazy).enumerated() {
        let one = RecordArena()
        let line = lines[i]
        guard let single = line.withUnsafeBytes({ try? recordParser.parse($0, into: one) }) else {
            broken("record \(i): the lazy parser took a line simdjson refuses")
        }
        let values = readBack(lr)
        if values != readBack(er) || values != readBack(single) { broken("record \(i): lazy values differ: \(values) vs \(readBack(er))") }
        let general = RecordJSON.render(lr)
        if general != RecordJSON.render(er) { broken("record \(i): the general renderings differ") }
        var r = lr
        let fast = renderFast(lr)
        if fast != renderFast(er) { broken("record \(i): lazy renders \(fast), eager \(renderFast(er))") }
        if sr_record_source_fields(&r) >= 0 {
            if Array(fast.utf8) != Array(line) { broken("record \(i): option A gives \(fast), not its line") }
        } else if fast != general {
            broken("record \(i): a record not rendered from its line renders \(fast), not \(general)")
        }
        var flat = sluice_record()
        var err = [CChar](repeating: 0, count: 160)
        guard sr_materialize(lazyBatchArena, &r, &flat, &err, err.count) == 0 else { broken("record \(i) does not materialise") }
        if readBack(flat) != values || renderFast(flat) != fast || RecordJSON.render(flat) != general {
            broken("record \(i): the materialised record differs")
        }
    }
}

// MARK: expressions

/// The first line is an expression, the rest a JSON record. Promises: compiling either
/// gives a program or a problem (never a crash); evaluating never crashes and gives the
/// same value twice; a condition is true exactly when its value is `true`.
func fuzzExpressions(_ data: UnsafeRawBufferPointer) {
    let bytes = Array(data)
    let cut = bytes.firstIndex(of: 0x0A) ?? bytes.count
    let source = String(decoding: bytes[..<cut], as: UTF8.self)
    let json = cut < bytes.count ? Array(bytes[(cut + 1)...]) : Array("{}".utf8)
    let arena = RecordArena()
    guard var record = json.withUnsafeBytes({ try? recordParser.parse($0, into: arena) }) else { return }
    guard let value = try? Expression(source) else { return }
    let first = value.evaluate(&record)
    let second = value.evaluate(&record)
    // Functions of time and state may differ between calls; plain expressions may not.
    if first != second, !source.contains("(") { broken("evaluated twice: \(first) then \(second)") }
    if let condition = try? Expression(source, condition: true) {
        let truth = condition.isTrue(&record)
        if truth != (first == "true"), !source.contains("(") {
            broken("the condition is \(truth) while its value is \(first)")
        }
    }
}

// MARK: pipelines

/// The built-in stages, and the bundled plugins when SLUICE_FUZZ_PLUGINS names the folder of
/// a plain build (tools/fuzz names .build/debug): read in this process, so that the corpus'
/// examples plan and their mutations reach the planner's every part.
let fuzzCatalog: Catalog = {
    let folder = ProcessInfo.processInfo.environment["SLUICE_FUZZ_PLUGINS"] ?? ""
    let locations = folder.isEmpty ? [] : [PluginLocation(directory: folder, origin: .bundled,
                                                          widgetsDirectories: [PluginSearchPath.packageRoot + "/widgets"])]
    return Catalog.load(locations: locations, builtins: true)
}()

/// A pipeline file (YAML when it does not start with `{`). Promises: reading and planning
/// never crash; no plan without an error to say why, no plan despite an error of the
/// planner's, and every error says something.
func fuzzPipelines(_ data: UnsafeRawBufferPointer) {
    let bytes = Data(data)
    let format: ConfigDocument.Format = bytes.first == UInt8(ascii: "{") ? .json : .yaml
    guard let json = try? ConfigDocument.parse(bytes, format: format) else { return }
    // The examples' folder, so that the examples in the corpus (whose input paths are
    // relative to their folder) plan, and mutations of them reach the plan itself.
    let (spec, shape) = PipelineSpec.read(json, directory: PluginSearchPath.packageRoot + "/examples/store-quality")
    let (plan, planned) = PipelinePlanner.plan(spec, catalog: fuzzCatalog, environment: [:])
    let errors = (shape + planned).errors
    // (The loader drops a plan made despite errors in the file's shape: the planner plans
    // the best reading of it.)
    if plan != nil, !planned.errors.isEmpty { broken("a plan despite \(planned.errors.count) errors") }
    if plan == nil, errors.isEmpty { broken("no plan and no error") }
    for e in errors where e.message.isEmpty { broken("an error without a message at \(e.path)") }
}

#if SLUICE_FUZZ
nonisolated(unsafe) let chosen: (UnsafeRawBufferPointer) -> Void = {
    let name = ProcessInfo.processInfo.environment["SLUICE_FUZZ_TARGET"] ?? ""
    guard let target = targets[name] else {
        broken("set SLUICE_FUZZ_TARGET to one of \(targets.keys.sorted().joined(separator: ", "))")
    }
    return target
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    chosen(UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size))
    return 0
}
#else
@main
struct FuzzStub {
    static func main() {
        FileHandle.standardError.write(Data("sluice-fuzz: build and run it with tools/fuzz (libFuzzer)\n".utf8))
        exit(64)
    }
}
#endif
