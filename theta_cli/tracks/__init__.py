"""Track files and geodesy: everything that knows a track format or how degrees become metres.

- ``points``: the in-memory track (:class:`~theta_cli.tracks.points.Points`), a parsed file
  (``TrackFile``), new coordinates (``Denoised``) and the coordinate range check.
- ``formats``: input format by suffix, input expansion (a directory stands for its track
  files), reading any track file, and writing one in any output format.
- ``gpx``, ``fit``, ``table`` (CSV/parquet), ``geojson``: one module per format, readers and the
  writers that keep everything of the input but the changed coordinates.
- ``sniff``: a look at a file's first bytes before a parser reads it whole.
- ``enu``: WGS-84 latitude/longitude <-> local ENU metres, both ways.

This package imports only :mod:`theta_cli.core` (and third-party readers, lazily).
"""
