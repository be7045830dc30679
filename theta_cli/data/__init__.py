"""The dataset pipeline: synthetic raw pairs (synth), the training layout (prepare), validation
(check). Raw tables have the columns of :data:`theta_cli.data.rawio.RAW_COLUMNS`; prepared
datasets follow DOMAIN.md ("Data files")."""
