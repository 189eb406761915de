#!/usr/bin/env bash
# Builds .gpu-carry/: everything `make bench-gpu` needs on a lent GPU machine where
# nothing can be downloaded (its image has Python 3.12, torch+CUDA, torchvision, JAX;
# no Go, no Keras, no nats-py). Carried files are capped at 64 MiB with the tree, so
# the Go binaries travel stripped and gzip-ed, and only the wheels the image lacks go.
#   GPU_MODEL=keras-random (default: seeded random Keras MobileNetV2; ImageNet weights
#   cannot be downloaded here) or keras:<file.keras|.h5> (a user's weights)
#   CARRY_CPU=1 (default): also LiteRT and the int8 .tflite for the CPU-only system row
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
CARRY=.gpu-carry
SHARED_TESTDATA=${SHARED_TESTDATA:-$ROOT/../shared/testdata}
GPU_MODEL=${GPU_MODEL:-keras-random}
CARRY_CPU=${CARRY_CPU:-1}
VPY=${VPY:-$ROOT/.venv/bin/python}
LIMIT_MIB=62  # 64 MiB for tree + carry, less a margin for files made meanwhile

rm -rf "$CARRY"
mkdir -p "$CARRY/bin" "$CARRY/whl" "$CARRY/data" "$CARRY/build/e2e"

echo "== hub (linux/amd64, static, stripped, gzip)"
CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath -ldflags="-s -w" -o "$CARRY/build/hub" ./cmd/hub
gzip -9 -c "$CARRY/build/hub" > "$CARRY/bin/hub.gz"

echo "== load generator: e2e/loadgen_test.go as a test binary, without the rest of e2e"
cp e2e/loadgen_test.go e2e/external_load_bench_test.go "$CARRY/build/e2e/"
cp bench/gpu/loadgen/shim_test.go.in "$CARRY/build/e2e/shim_test.go"
CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go test -c -tags e2e -trimpath -ldflags="-s -w" \
  -o "$CARRY/build/loadgen.test" "./$CARRY/build/e2e"
gzip -9 -c "$CARRY/build/loadgen.test" > "$CARRY/bin/loadgen.test.gz"

echo "== wheels the GPU image lacks (cp312, manylinux x86-64)"
wheels=(keras==3.15.1 nats-py==2.16.0 pynacl==1.6.2 opentelemetry-api==1.45.2
        opentelemetry-sdk==1.45.2 opentelemetry-exporter-otlp-proto-http==1.45.2)
[[ $CARRY_CPU == 1 ]] && wheels+=(ai-edge-litert==2.3.0)
"$VPY" -m pip download -q --disable-pip-version-check --only-binary=:all: \
  --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64 \
  --platform manylinux_2_27_x86_64 --platform manylinux_2_26_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d "$CARRY/build/whl" "${wheels[@]}"
"$VPY" -m pip wheel -q --disable-pip-version-check --no-deps -w "$CARRY/build/whl" nkeys==0.2.1
# Installed on the GPU image already (.library/device/KINDS.md): not carried.
on_image='^(absl_py|certifi|charset_normalizer|flatbuffers|h5py|idna|markdown_it_py|mdurl|ml_dtypes|numpy|packaging|protobuf|pygments|requests|rich|tqdm|typing_extensions|urllib3|googleapis_common_protos)-'
for w in "$CARRY"/build/whl/*.whl; do
  name=$(basename "$w")
  [[ $name =~ $on_image ]] || cp "$w" "$CARRY/whl/"
done

echo "== model: $GPU_MODEL -> folded fp16 .npz (Keras runs here, not there)"
"$VPY" -m inference_server.models.mobilenet_v2.convert --model "$GPU_MODEL" --seed 0 \
  --dtype float16 --labels "$SHARED_TESTDATA/imagenet_labels.txt" --out "$CARRY/data/mobilenet_v2.npz"
cp "$SHARED_TESTDATA/imagenet_labels.txt" "$SHARED_TESTDATA/images/cat_720p.jpg" "$CARRY/data/"
[[ $CARRY_CPU == 1 ]] && cp "$SHARED_TESTDATA/models/tf2_mobilenet_v2_1.0_224_ptq.tflite" "$CARRY/data/"

rm -rf "$CARRY/build"
tree_kib=$(git ls-files -z | du -ck --files0-from=- | tail -1 | cut -f1)
carry_kib=$(du -sk "$CARRY" | cut -f1)
total_mib=$(( (tree_kib + carry_kib) / 1024 ))
du -sh "$CARRY"/* "$CARRY"/whl/* | sort -h
echo "carry: $((carry_kib / 1024)) MiB + tree $((tree_kib / 1024)) MiB = $total_mib MiB (limit 64 MiB)"
if (( total_mib > LIMIT_MIB )); then
  echo "too large to carry: try CARRY_CPU=0 (drops LiteRT and the CPU-only row)" >&2
  exit 1
fi
