import Foundation

/// What a worker needs to create the stage's plugin instance: sent once, as JSON, when the
/// worker starts (and again to each worker that replaces one).
struct WorkerSetup: Codable {
    var library: String
    var plugin: String
    var type: PluginType
    var namespace: String
    var pipeline: String
    var stage: String
    var properties: [[String]]
    var allowsAlerts: Bool
    var secrets: [String]
    var position: Data
    var logLevel: String
    /// Its extra output ports, and which a connection takes.
    var ports: OutputPorts
}

/// The parts of a call's result that are not records or alerts (JSON; absent when empty).
struct CallNotes: Codable {
    struct ErrorNote: Codable {
        var code: Int32
        var message: String
        /// The index of its record among the call's error records, if it has one.
        var record: Int?
    }
    struct Outcome: Codable {
        var index: Int
        var status: Int32
        var message: String
    }

    var failure: String?
    var errors: [ErrorNote] = []
    var outcomes: [Outcome] = []
    /// Alert index → Retry-After in ms; -1: every alert of the call.
    var retryAfter: [Int: Int] = [:]
    /// What the call added to the plugin's counters.
    var counters: [String: Int64] = [:]
    var rejectedAlerts = 0
    var overflowedAlerts = 0
    /// Sources: the last position saved during the current batch.
    var position: Data?
    /// Sources: the call said its inputs changed (inputs_changed).
    var inputsChanged: Bool?
    /// Sources: the lag the plugin reported during the current batch (report_lag).
    var lag: [SourceLag]?
    /// How many of the call's port records (CallResult.portRecords) each extra output port
    /// got, in OutputPorts' order.
    var portCounts: [Int] = []

    var isEmpty: Bool {
        failure == nil && errors.isEmpty && outcomes.isEmpty && retryAfter.isEmpty && counters.isEmpty
            && rejectedAlerts == 0 && overflowedAlerts == 0 && position == nil && portCounts.isEmpty
            && inputsChanged == nil && lag == nil
    }
}
