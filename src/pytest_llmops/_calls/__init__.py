"""Every model call's one path: budget, concurrency bound, deadline, retries, cancellation."""
