"""Where alignment tasks run: Dask's threads or a distributed client, with a progress bar."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["make_runner"]


def make_runner(client: Any = None, n_workers: int | None = None,
                progress: bool | None = None) -> Callable[[list[Any], set[str], str], list[Any]]:
    """Return ``run(tasks, keys, desc) -> results`` for a list of ``dask.delayed`` tasks."""
    from brushlab._core.progress import progress_bar as _progress_bar

    def run(tasks: list[Any], keys: set[str], desc: str) -> list[Any]:
        import dask

        with _progress_bar(len(tasks), 0, f"align: {desc}", progress) as bar:
            if client is None:
                from dask.callbacks import Callback
                from threadpoolctl import threadpool_limits

                def tick(key: Any, *_: Any) -> None:
                    if key in keys:
                        bar.update(1)

                with threadpool_limits(limits=1), Callback(posttask=tick):
                    return list(dask.compute(*tasks, scheduler="threads",
                                             num_workers=n_workers))
            from distributed import as_completed

            futures = client.compute(tasks)
            try:
                for future in as_completed(futures):
                    future.result()  # raises the task's error here
                    bar.update(1)
            except BaseException:
                client.cancel(futures)
                raise
            return [f.result() for f in futures]

    return run
