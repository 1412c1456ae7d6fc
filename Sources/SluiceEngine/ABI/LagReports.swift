import SluicePluginABI

/// What a source reported of its lag during one batch (report_lag, ABI 1.6): the last
/// report per partition, in the order the partitions were first reported. Bounded: at most
/// `maxPartitions` partitions of at most `maxNameBytes` bytes each, so a plugin cannot make
/// the host keep more than about half a megabyte, however it calls.
struct LagReports: Equatable, Sendable {
    static let maxNameBytes = Int(SLUICE_MAX_LAG_NAME)
    static let maxPartitions = Int(SLUICE_MAX_LAG_PARTITIONS)

    /// Why a report was refused (the plugin's last_error).
    struct Refusal: Error, CustomStringConvertible {
        let description: String
    }

    private(set) var entries: [SourceLag] = []
    private var index: [String: Int] = [:]

    var isEmpty: Bool { entries.isEmpty }

    mutating func removeAll() {
        guard !entries.isEmpty else { return }
        entries.removeAll(keepingCapacity: true)
        index.removeAll(keepingCapacity: true)
    }

    /// A report as the plugin made it: `len` bytes of name at `name` (checked before
    /// anything is read), the numbers negative when unknown.
    mutating func report(_ name: UnsafePointer<CChar>?, _ len: Int, records: Int64, bytes: Int64) -> Result<Void, Refusal> {
        // size_t arrives as Int: SIZE_MAX and its like are negative here.
        guard len >= 0, len <= LagReports.maxNameBytes else {
            return .failure(Refusal(description: "a partition name of \(UInt(bitPattern: len)) bytes; at most \(LagReports.maxNameBytes)"))
        }
        guard len == 0 || name != nil else { return .failure(Refusal(description: "NULL partition name")) }
        let raw = UnsafeRawBufferPointer(start: name, count: len)
        guard let text = String(validating: raw, as: UTF8.self) else {
            return .failure(Refusal(description: "the partition name is not UTF-8"))
        }
        return report(text, records: records < 0 ? nil : records, bytes: bytes < 0 ? nil : bytes)
    }

    /// A report already in Swift form (a worker's, which is checked again here: what a
    /// worker sends is never trusted).
    mutating func report(_ name: String, records: Int64?, bytes: Int64?) -> Result<Void, Refusal> {
        guard name.utf8.count <= LagReports.maxNameBytes else {
            return .failure(Refusal(description: "a partition name of \(name.utf8.count) bytes; at most \(LagReports.maxNameBytes)"))
        }
        if name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            return .failure(Refusal(description: "the partition name holds a control character or a NUL byte"))
        }
        let lag = SourceLag(partition: name, records: records.map { max(0, $0) }, bytes: bytes.map { max(0, $0) })
        if let i = index[name] {
            entries[i] = lag
            return .success(())
        }
        guard entries.count < LagReports.maxPartitions else {
            return .failure(Refusal(description: "more than \(LagReports.maxPartitions) partitions in one batch; '\(name)' is not kept"))
        }
        index[name] = entries.count
        entries.append(lag)
        return .success(())
    }

    /// Takes another set of reports in (later ones win), within the same bounds.
    mutating func merge(_ other: [SourceLag]) {
        for l in other { _ = report(l.partition, records: l.records, bytes: l.bytes) }
    }
}
