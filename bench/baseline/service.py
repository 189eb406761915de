"""The article's architecture: its model service, kept as the baseline of `make bench`.

The article this project grew from put a FastAPI service behind a Go (Echo)
gateway: each request carries one base64 image in JSON, and the service
decodes it and calls Keras `model.predict` on it alone. This file is that
service, unchanged in shape, so that the benchmark measures our hub against
what it replaced with the same MobileNetV2 weights. Bench-only: its
dependencies (bench/baseline/requirements.txt) are not part of the runtime install.

    python bench/baseline/service.py --port 8001 --weights random|imagenet|<file>
"""

from __future__ import annotations

import argparse
import base64
import io

import numpy as np
import uvicorn
from fastapi import FastAPI, HTTPException
from PIL import Image
from pydantic import BaseModel

import keras

app = FastAPI(title="baseline model service")
model: keras.Model | None = None


class PredictRequest(BaseModel):
    image: str  # base64, as the gateway forwards it


class Prediction(BaseModel):
    label: str
    confidence: float


def load_model(weights: str) -> keras.Model:
    """MobileNetV2 as the article built it; "random" has the same compute as the
    ImageNet weights without a download (this workplace cannot fetch them)."""
    keras.utils.set_random_seed(0)
    if weights == "random":
        return keras.applications.MobileNetV2(weights=None)
    if weights == "imagenet":
        return keras.applications.MobileNetV2(weights="imagenet")
    m = keras.applications.MobileNetV2(weights=None)
    m.load_weights(weights)
    return m


@app.post("/predict", response_model=list[Prediction])
def predict(req: PredictRequest) -> list[Prediction]:
    assert model is not None
    try:
        img = Image.open(io.BytesIO(base64.b64decode(req.image))).convert("RGB").resize((224, 224))
    except (ValueError, OSError) as exc:
        raise HTTPException(status_code=400, detail="not an image") from exc
    x = keras.applications.mobilenet_v2.preprocess_input(np.asarray(img, dtype=np.float32)[None])
    probs = model.predict(x, verbose=0)[0]
    top = np.argsort(probs)[::-1][:3]
    return [Prediction(label=str(int(i)), confidence=float(probs[i])) for i in top]


def main() -> None:
    global model
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=8001)
    p.add_argument("--weights", default="random")
    args = p.parse_args()
    model = load_model(args.weights)
    model.predict(np.zeros((1, 224, 224, 3), np.float32), verbose=0)  # warm-up before serving
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
