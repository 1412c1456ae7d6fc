import ArgumentParser
import Foundation
import SluiceEngine
import SluiceServe

/// `host serve`: the dashboard (docs/dashboard.md) for pipelines that are not running here.
struct Serve: ParsableCommand, LogConfigurable {
    @OptionGroup var log: LogOptions

    static let configuration = CommandConfiguration(
        abstract: "Serve the dashboard for pipelines' state folders: their history, incidents and silences (docs/dashboard.md)."
    )

    func run() throws {
        printError("error: not built yet\n")
        throw ExitCode(ExitStatus.failed)
    }
}
