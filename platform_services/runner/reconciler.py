"""The reconciler: one background thread that moves admitted jobs through the local backend.

All it knows is in the store (job documents) and in the replica directories, so a restarted server picks up
where the last one stopped: running replicas are re-attached (their supervisors outlived the server), a job
caught half-started is failed with a reason, and quota is released by the same transaction that ends a job.

Replicas sharing a store elect one reconciler (runner/leader.py); the others only serve the API, and the
leader picks up what they admit at its next pass. Every state change is still a compare-and-swap on the job,
so even a leader that lost its claim in the middle of a pass cannot undo another's work.
"""

import logging
import threading

from platform_services.errors import ApiError
from platform_services.jobs import states
from platform_services.jobs.service import JobService, set_state
from platform_services.runner.leader import LeaderElection
from platform_services.runner.local import LocalBackend
from platform_services.runner.trainer import TrainerError

log = logging.getLogger("platform_services.runner")


class Reconciler:
    def __init__(self, jobs: JobService, backend: LocalBackend, settings, metrics, election: LeaderElection):
        self.jobs = jobs
        self.backend = backend
        self.settings = settings
        self.metrics = metrics
        self.election = election
        election.on_elected = self.wake  # start the first pass at once, not after an interval
        metrics.reconciler_leader.set_function(lambda: 1.0 if self.election.leading() else 0.0)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._tick_lock = threading.Lock()
        self._queues_seen: dict[str, int] = {}  # org -> ledger revision at which its queue head did not fit

    # The API uses these through the reconciler so that routes do not know which backend runs jobs.
    def log_path(self, job, replica):
        return self.backend.log_path(job, replica)

    def read_from(self, path, offset):
        return self.backend.read_from(path, offset)

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self.election.start()
        self._thread = threading.Thread(target=self._loop, name="reconciler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=10)
        self.election.stop()  # after the last pass: resigning hands the work over at once

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                if self.election.leading():
                    self.tick()
            except Exception:
                log.exception("reconcile pass failed")
            self._wake.wait(self.settings.reconcile_interval_s)
            self._wake.clear()

    def tick(self) -> None:
        with self._tick_lock:
            self.drain_queues()
            active = [job for org, name in self.jobs.active() if (job := self._get(org, name))]
            busy = {
                g
                for j in active
                if j["state"] in (states.CREATING, states.RUNNING, states.DELETING)
                for r in j["replicas"]
                for g in r["gpus"]
            }
            replicas = 0
            for job in active:
                if not self.election.leading():
                    return  # lost the claim mid-pass: leave the rest to the new leader
                state = job["state"]
                if state == states.PENDING:
                    self._start(job, busy)
                elif state == states.CREATING:
                    # Only a crash between planning and launching leaves a job here at the start of a pass.
                    self._finish(job, states.FAILED, None, "the server restarted while starting the job")
                elif state == states.RUNNING:
                    replicas += len(job["replicas"])
                    outcome = self.backend.poll(job)
                    if outcome:
                        self._finish(job, *outcome)
                elif state == states.DELETING:
                    self._delete(job)
            self.metrics.active_replicas.set(replicas)

    def drain_queues(self) -> None:
        """Admit what fits from every org's queue. A release or quota change drains the queue itself, in
        batches; this catches a drain cut short between two batches (the store failing), which would
        otherwise wait for the org's next release. A failure here must not stop the rest of the pass."""
        try:
            self.jobs.drain_waiting(self._queues_seen)
        except Exception:
            log.exception("draining the queues failed; next pass retries")

    def _get(self, org: str, name: str) -> dict | None:
        try:
            return self.jobs.get(org, name)
        except ApiError:
            return None

    def _start(self, job: dict, busy: set[int]) -> None:
        plan = self.backend.plan(job, busy)
        if plan is None:
            return  # its GPUs are still held by other jobs; try again next pass
        busy.update(g for r in plan for g in r["gpus"])

        def creating(current):
            if current["state"] != states.PENDING:
                raise _Skip
            current["replicas"] = plan
            return set_state(current, states.CREATING, f"starting {len(plan)} replica(s)")

        try:
            job = self.jobs.transition(job["org_id"], job["job_name"], creating)
        except (_Skip, ApiError):
            return
        try:
            self.backend.start(job)
        except (TrainerError, OSError) as exc:
            self.backend.stop(job)
            self._finish(job, states.FAILED, None, f"could not start: {exc}")
            return

        def running(current):
            current["replicas"] = job["replicas"]  # now with the supervisors' pids
            return set_state(current, states.RUNNING, "all replicas started")

        self._change(job, states.CREATING, running)

    def _finish(self, job: dict, state: str, code: int | None, message: str) -> None:
        self.backend.stop(job)  # parameter servers and any replica still up

        def end(current):
            current["exit_code"] = code
            current["message"] = message
            return set_state(current, state, message)

        if self._change(job, job["state"], end):
            self.metrics.jobs_finished.labels(state).inc()
            log.info("job finished", extra={"org_id": job["org_id"], "job": job["job_name"], "state": state})

    def _delete(self, job: dict) -> None:
        self.backend.stop(job)
        self._change(job, states.DELETING, lambda j: None)

    def delete_now(self, org: str, name: str) -> None:
        """Called by the API after marking a job `deleting`: stop it and drop it before answering. A replica
        that does not lead drops only a job that never started; one with replicas is left to the leader's next
        pass (their processes are the leader's to stop)."""
        with self._tick_lock:
            job = self._get(org, name)
            if job is None or job["state"] != states.DELETING:
                return
            if job["replicas"] and not self.election.leading():
                return
            self._delete(job)

    def _change(self, job: dict, expected_state: str, change) -> bool:
        """Apply `change` if the job is still the same job in `expected_state` (else someone moved it)."""

        def guarded(current):
            if current["uid"] != job["uid"] or current["state"] != expected_state:
                raise _Skip
            return change(current)

        try:
            self.jobs.transition(job["org_id"], job["job_name"], guarded)
        except (_Skip, ApiError):
            return False
        return True


class _Skip(Exception):
    """The job changed under us; leave it to the next pass."""
