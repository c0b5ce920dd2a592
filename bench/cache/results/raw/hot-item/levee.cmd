levee proxy --listen 127.0.0.1:56999 --to 127.0.0.1:34507 --workers 1 --admin 127.0.0.1:57353 --cache 256MB --log-level warn
