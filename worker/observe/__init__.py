"""What operators see: logs, the cluster's and a worker's metrics, Flower, redaction."""
