"""``ssisrun worker``: a Scale Out worker agent on any machine, for a PostgreSQL catalog.

It takes executions from the queues ``agent.ID`` and ``any`` (procrastinate), runs each
attempt as ``ssisrun exec`` in its own process group, heartbeats into the catalog's worker
agents, and sweeps the executions of workers that went silent. SIGINT or SIGTERM stops it
after the attempts it runs have ended."""

from __future__ import annotations

import click

from ssisrun.commands.catalog import CATALOG_HELP, open_catalog


@click.command("worker")
@click.option("--catalog", "catalog_url", metavar="URL", envvar="SSISRUN_CATALOG",
              required=True, help=CATALOG_HELP.split(" Default")[0] + " A PostgreSQL "
              "catalog (postgresql://USER@HOST/DB); the user needs the role "
              "ssis_cluster_worker.")
@click.option("--agent-id", required=True, metavar="ID",
              help="This worker agent's stable ID (SSIS's WorkerAgentId): executions "
              "added to it with 'catalog add-worker' run only on agents with this ID.")
@click.option("--max-task-count", "concurrency", type=click.IntRange(min=1), default=1,
              show_default=True, help="Executions it runs at once (SSIS's MaxTaskCount).")
@click.option("--heartbeat", type=click.FloatRange(min=0.1), default=5.0, show_default=True,
              metavar="SECONDS", help="Seconds between heartbeats (and sweeps).")
@click.option("--silent-after", type=click.FloatRange(min=0.5), default=15.0,
              show_default=True, metavar="SECONDS",
              help="A worker without a heartbeat for this long has gone silent: its "
              "executions are retried elsewhere or end unexpectedly.")
def worker_command(catalog_url: str, agent_id: str, concurrency: int, heartbeat: float,
                   silent_after: float) -> None:
    """Run a Scale Out worker agent until SIGINT or SIGTERM.

    \b
    ssisrun catalog init --catalog postgresql://admin@db/ssisdb      # once, as an admin
    ssisrun worker --catalog postgresql://etl@db/ssisdb --agent-id w1
    ssisrun exec A.dtsx B.dtsx --scale-out --catalog postgresql://etl@db/ssisdb
    """
    from ssisrun.catalog import CatalogError

    catalog = open_catalog(catalog_url, role="ssis_cluster_worker")
    try:
        if not catalog.is_postgres:
            raise CatalogError("ssisrun worker needs a PostgreSQL catalog (--catalog "
                               "postgresql://...); with SQLite, 'exec --scale-out' runs "
                               "local worker agents itself")
        from ssisrun.scaleout.cluster import WorkerOptions, run_worker

        run_worker(catalog, WorkerOptions(agent_id, concurrency=concurrency,
                                          heartbeat=heartbeat, silent_after=silent_after,
                                          on_line=click.echo))
    finally:
        catalog.close()
