import Foundation
@testable import SluiceEngine
import XCTest

/// One rule for webhook URLs (the SDK's `URLRule`), checked twice: by the host at `validate`
/// (the widgets file's `url` type, `PropertyType.urlProblem`) and by the Webhook plugin when
/// a stage is created (`WebURL.problem`, with libcurl's own reading of the host on top, as
/// the value may come from another environment). The two agree on a table of hostile URLs,
/// and the widgets file's `httpsHosts` are the plugin's list. The host
/// compared is the host libcurl connects to: libcurl 7.88 with libidn2 decodes a
/// percent-encoded host and maps full-width dots, so a host spelled that way is refused.
final class WebhookURLRuleTests: XCTestCase {
    /// URLs both checks refuse: each would reach a known service over plain http, or its
    /// host would read otherwise to libcurl than as written.
    static let refused = [
        "http://hooks%2Eslack.com/services/T0/B0/x",
        "http://hooks%2eslack%2ecom/services/T0/B0/x",
        "http://hooks\u{FF0E}slack\u{FF0E}com/services/T0/B0/x",
        "http://events%2epagerduty%2ecom/v2/enqueue",
        "http://\u{FF48}ooks.slack.com/services/T0/B0/x",        // a full-width h
        "http://hooks.slack.com\u{3002}/services/T0/B0/x",        // an ideographic full stop
        "http://HOOKS.SLACK.COM/services/T0/B0/x",
        "HTTP://hooks.slack.com/services/T0/B0/x",
        "http://hooks.slack.com./services/T0/B0/x",
        "http://hooks.slack.com.:80/services/T0/B0/x",
        "http://hooks.slack.com../services/T0/B0/x",
        "http://.hooks.slack.com/services/T0/B0/x",
        "http://team.slack.com/services/T0/B0/x",
        "http://a@b@hooks.slack.com/services/T0/B0/x",
        "http://evil.example\\@hooks.slack.com/services/T0/B0/x",
        "http://hooks.slack.com\\.evil.example/services/T0/B0/x",
        "http://[hooks.slack.com]/services/T0/B0/x",
        "http://[::1/x",
        "http://hooks.slack.com:https/services/T0/B0/x",
        "http:///hooks.slack.com/services/T0/B0/x",                // libcurl reads three slashes as two
        "http:/hooks.slack.com/services/T0/B0/x",
        "hooks.slack.com/services/T0/B0/x",
        "://hooks.slack.com/x",
        "ftp://hooks.slack.com/x",
        "http://us3.datadoghq.com/api/v1/events",
        "http://app.ddog-gov.com/api/v1/events",
        "http://x.webhook.office.com/webhookb2/x",
        "http:// hooks.slack.com/x",
    ]

    /// URLs both checks take: the host compared is the one libcurl connects to.
    static let accepted = [
        "https://hooks.slack.com/services/T0/B0/x",
        "https://HOOKS.SLACK.COM./services/T0/B0/x",
        "http://127.0.0.1:9/alerts",
        "http://user:secret@127.0.0.1:9/alerts",
        "http://hooks.slack.com@127.0.0.1:9/alerts",              // userinfo: libcurl connects to 127.0.0.1
        "http://127.0.0.1:9/?@hooks.slack.com",
        "http://127.0.0.1:9/#@hooks.slack.com",
        "http://[::1]:9/alerts",
        "http://hooks-slack.com/x",
        "http://slack.com.example/x",
        "http://my_host.internal:8080/hook",
        "http://alerts.example/v1/\u{FF0E}/%2E",                   // the path may hold anything printable
    ]

    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    /// The widgets file's `httpsHosts` of `url` and of `endpoint`.
    static func widgetsLists() throws -> [String: [String]] {
        let data = try Data(contentsOf: URL(fileURLWithPath: repo + "/widgets/Webhook-alertpublisher.json"))
        let json = try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
        var lists: [String: [String]] = [:]
        for group in json["configuration-groups"] as? [[String: Any]] ?? [] {
            for property in group["properties"] as? [[String: Any]] ?? [] where property["type"] as? String == "url" {
                lists[property["name"] as? String ?? "?"] = property["httpsHosts"] as? [String] ?? []
            }
        }
        return lists
    }

    /// The plugin's list, read from its source (the plugin is a library of its own).
    static func pluginList() throws -> [String] {
        let source = try String(contentsOfFile: repo + "/Plugins/Webhook/Delivery/WebURL.swift", encoding: .utf8)
        let literal = try XCTUnwrap(source.components(separatedBy: "static let httpsHosts = [").dropFirst().first?.components(separatedBy: "]").first)
        return literal.components(separatedBy: "\"").enumerated().filter { $0.offset % 2 == 1 }.map(\.element)
    }

    func testTheWidgetsFilesHostListsAreThePluginsList() throws {
        let plugin = try Self.pluginList()
        XCTAssertGreaterThanOrEqual(plugin.count, 10, "\(plugin)")
        let lists = try Self.widgetsLists()
        XCTAssertEqual(Set(lists.keys), ["url", "endpoint"])
        for (name, list) in lists { XCTAssertEqual(list, plugin, "widgets file, \(name).httpsHosts") }
    }

    /// The review's case: the host reads hooks.slack.com to libcurl, so it needs https.
    func testAKnownServiceHostSpelledDifferentlyStillNeedsHTTPS() {
        var type = PropertyType(.url)
        type.httpsHosts = ["hooks.slack.com", "*.slack.com"]
        for url in ["http://hooks%2Eslack.com/services/T0/B0/x", "http://hooks%2eslack%2ecom/services/T0/B0/x",
                    "http://hooks\u{FF0E}slack\u{FF0E}com/services/T0/B0/x"] {
            XCTAssertNotNil(type.problem(url), "\(url) goes to hooks.slack.com over plain http")
        }
    }

    func testValidateRefusesEveryHostileURLAndTakesTheOthers() throws {
        var type = PropertyType(.url)
        type.httpsHosts = try XCTUnwrap(Self.widgetsLists()["url"])
        for url in Self.refused { XCTAssertNotNil(type.urlProblem(url), "validate takes \(url)") }
        for url in Self.accepted { XCTAssertNil(type.urlProblem(url), "validate refuses \(url)") }
    }

    func testThePluginAgreesWithValidateOnEveryURL() throws {
        let catalog = try WebhookTests.catalogWithoutURLType()
        for url in Self.refused + Self.accepted {
            var pluginProblem: String?
            do {
                _ = try runPipeline(WebhookTests.pipeline(["format": "json", "url": url]), files: ["in.jsonl": ""], catalog: catalog)
            } catch {
                pluginProblem = "\(error)"
            }
            let refused = Self.refused.contains(url)
            XCTAssertEqual(pluginProblem != nil, refused, "the plugin \(refused ? "takes" : "refuses") \(url): \(pluginProblem ?? "")")
            if let pluginProblem { XCTAssertTrue(pluginProblem.contains("stage 'hook' (Webhook 1.0.0): url: "), pluginProblem) }
        }
    }
}
