import Testing

@testable import BerthReconciler
@testable import BerthSpec

@Suite struct BackoffTests {
    @Test func doublesUpToTheCap() {
        var backoff = RestartBackoff()
        let delays = (0..<15).map { _ in backoff.next(ranFor: .milliseconds(50)) }
        let expected: [Duration] =
            [100, 200, 400, 800, 1600, 3200, 6400, 12_800, 25_600, 51_200, 102_400, 204_800].map { .milliseconds($0) }
            + [.seconds(300), .seconds(300), .seconds(300)]
        #expect(delays == expected)
    }

    @Test func manyFailuresStayAtTheCap() {
        var backoff = RestartBackoff()
        for _ in 0..<10_000 { _ = backoff.next(ranFor: .zero) }
        #expect(backoff.next(ranFor: .zero) == .seconds(300))
    }

    @Test func resetAfterTenSecondsOfRunning() {
        var backoff = RestartBackoff()
        for _ in 0..<5 { _ = backoff.next(ranFor: .seconds(1)) }
        #expect(backoff.next(ranFor: .milliseconds(9_999)) == .milliseconds(3200))
        #expect(backoff.next(ranFor: .seconds(10)) == .milliseconds(100))
        #expect(backoff.next(ranFor: .seconds(1)) == .milliseconds(200))
        backoff.reset()
        #expect(backoff.next(ranFor: .zero) == .milliseconds(100))
    }

    @Test func restartDecision() {
        let no = RestartPolicy(policy: .no)
        #expect(!no.restarts(afterExit: 1, stoppedByUser: false, previousRestarts: 0))
        for policy in [RestartPolicy.Policy.always, .unlessStopped] {
            let p = RestartPolicy(policy: policy)
            #expect(p.restarts(afterExit: 0, stoppedByUser: false, previousRestarts: 1000))
            #expect(p.restarts(afterExit: 137, stoppedByUser: false, previousRestarts: 0))
            #expect(!p.restarts(afterExit: 137, stoppedByUser: true, previousRestarts: 0))
        }
        let unlimited = RestartPolicy(policy: .onFailure)
        #expect(!unlimited.restarts(afterExit: 0, stoppedByUser: false, previousRestarts: 0))
        #expect(unlimited.restarts(afterExit: 1, stoppedByUser: false, previousRestarts: 1_000_000))
        #expect(!unlimited.restarts(afterExit: 1, stoppedByUser: true, previousRestarts: 0))
        let three = RestartPolicy(policy: .onFailure, maxRetries: 3)
        #expect(three.restarts(afterExit: 1, stoppedByUser: false, previousRestarts: 2))
        #expect(!three.restarts(afterExit: 1, stoppedByUser: false, previousRestarts: 3))
        let zero = RestartPolicy(policy: .onFailure, maxRetries: 0)
        #expect(!zero.restarts(afterExit: 1, stoppedByUser: false, previousRestarts: 0))
    }
}
