import BerthRuntime
import BerthSpec
import BerthStore
import Testing

@Suite struct HealthUnitTests {
    static func probe(_ code: Int32) -> HealthProbe { HealthProbe(start: "s", end: "e", exitCode: code, output: "") }

    @Test func theSpecsCheckWinsAndDockersDefaultsFillTheImages() throws {
        var image = ImageConfig.HealthConfig(test: ["CMD-SHELL", "curl -f localhost"])
        image.interval = 5_000_000_000
        let fromImage = try #require(HealthSettings.resolve(spec: nil, image: image))
        #expect(fromImage.argv == ["/bin/sh", "-c", "curl -f localhost"])
        #expect(fromImage.interval == 5_000_000_000 && fromImage.timeout == 30_000_000_000 && fromImage.retries == 3)
        var spec = HealthCheck()
        spec.test = .exec(["true"])
        spec.onFailure = .restart
        let fromSpec = try #require(HealthSettings.resolve(spec: spec, image: image))
        #expect(fromSpec.argv == ["true"] && fromSpec.onFailure == "restart")
        var off = HealthCheck()
        off.disable = true
        #expect(HealthSettings.resolve(spec: off, image: image) == nil)
        var none = HealthCheck()
        none.test = HealthCheck.Test.none
        #expect(HealthSettings.resolve(spec: none, image: image) == nil)
        image.test = ["NONE"]
        #expect(HealthSettings.resolve(spec: nil, image: image) == nil)
        // Only the timings in the spec: the image's command with the spec's interval.
        image.test = ["CMD", "check"]
        var timings = HealthCheck()
        timings.interval = .seconds(2)
        #expect(HealthSettings.resolve(spec: timings, image: image)?.argv == ["check"])
        #expect(HealthSettings.resolve(spec: timings, image: image)?.interval == 2_000_000_000)
    }

    @Test func aSpecsCheckWithoutATestKeepsTheImagesCommand() throws {
        let spec = try SpecLoader.decode(
            Array(#"{"image": "busybox", "healthcheck": {"interval": "2s", "retries": 5}}"#.utf8), origin: "/s/a.json",
            defaultName: "a"
        ).get()
        #expect(spec.healthcheck?.test == nil && spec.healthcheck?.retries == 5)
        let settings = HealthSettings.resolve(
            spec: spec.healthcheck, image: ImageConfig.HealthConfig(test: ["CMD", "probe"]))
        #expect(settings?.argv == ["probe"] && settings?.interval == 2_000_000_000 && settings?.retries == 5)
        #expect(HealthSettings.resolve(spec: spec.healthcheck, image: nil) == nil)
    }

    @Test func failuresCountAsDockersDo() {
        var state = HealthState(startedAt: 1)
        // In the start period, before any pass, failures do not count.
        state = state.after(Self.probe(1), retries: 2, inStartPeriod: true)
        #expect(state.status == "starting" && state.failingStreak == 0)
        state = state.after(Self.probe(0), retries: 2, inStartPeriod: true)
        #expect(state.status == "healthy")
        // After a pass they count, start period or not.
        state = state.after(Self.probe(1), retries: 2, inStartPeriod: true)
        #expect(state.status == "healthy" && state.failingStreak == 1)
        state = state.after(Self.probe(7), retries: 2, inStartPeriod: false)
        #expect(state.status == "unhealthy" && state.failingStreak == 2)
        state = state.after(Self.probe(0), retries: 2, inStartPeriod: false)
        #expect(state.status == "healthy" && state.failingStreak == 0)
        for _ in 0..<10 { state = state.after(Self.probe(0), retries: 2, inStartPeriod: false) }
        #expect(state.log.count == HealthState.maximumLog)
    }
}
