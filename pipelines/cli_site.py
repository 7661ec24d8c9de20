"""`moshu site [--serve] [--port N]`: write the static catalog site and print its path (registered by `pipelines.cli`)."""

from __future__ import annotations

from typing import Annotated

import typer

from pipelines.cli_common import ProjectOpt, WarehouseOpt, _fail, _settings, app, err, out


@app.command()
def site(
    serve: Annotated[
        bool, typer.Option("--serve", help="Then serve the warehouse folder on 127.0.0.1 (Python's http.server) until Ctrl-C.")
    ] = False,
    port: Annotated[int, typer.Option("--port", help="Port of --serve (0: any free port).")] = 8000,
    project: ProjectOpt = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """(Re)write the catalog site `<warehouse>/site/index.html` (static, offline, no server needed); print its path."""
    from pipelines.errors import MoshuError
    from pipelines.report.site import INDEX, SITE_DIR, write_site

    wh = _settings(project, warehouse).warehouse
    try:
        path = write_site(wh)
    except MoshuError as e:
        _fail(str(e))
    out.print(str(path), highlight=False)
    if not serve:
        return
    import functools
    import signal
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    # A server must stop when asked, whatever its parent left ignored: a process started in the background has
    # SIGINT ignored, and Dagster maps SIGTERM onto SIGINT's handler, so both would be ignored here otherwise.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)

    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(wh.root))
    try:
        server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError as e:
        _fail(f"cannot serve on port {port}: {e}; pass another with --port (0 picks a free one)")
    with server:
        err.print(f"serving http://127.0.0.1:{server.server_address[1]}/{SITE_DIR}/{INDEX} (Ctrl-C to stop)", highlight=False)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            err.print("stopped")
