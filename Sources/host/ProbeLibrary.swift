import ArgumentParser
import Foundation
import SluiceEngine

/// The child side of LibraryProbe: loads one library in this short-lived process and prints
/// what its descriptors say (or why it cannot be used) after a marker. If the library
/// crashes, hangs or exits while loading, only this process goes.
struct ProbeLibrary: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe-library",
        abstract: "Inspect one plugin library (used by the host itself, in a child process).",
        shouldDisplay: false
    )

    @Argument var path: String

    func run() throws {
        let answer: LibraryProbe.Answer
        do {
            answer = .described(try LibraryDescription.loading(path).0)
        } catch {
            answer = .failed("\(error)")
        }
        let data = (try? JSONEncoder().encode(answer)) ?? Data()
        print(LibraryProbe.marker + String(decoding: data, as: UTF8.self))
    }
}
