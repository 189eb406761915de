"""MobileNetV2 inference worker for the webcam classification hub (NATS, nats-py)."""
