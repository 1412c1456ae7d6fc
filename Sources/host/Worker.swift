import ArgumentParser
import Foundation
import SluiceEngine

/// The worker process of an isolated stage (isolation: process): started by `host run`
/// with the socket and shared memory as descriptors 3-5; never by hand.
struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run one isolated stage's plugin (used by the host itself, in a child process).",
        shouldDisplay: false
    )

    @Option(help: "The host's process id.") var parent: Int32

    func run() throws {
        Foundation.exit(Worker.main(parent: parent))
    }
}
