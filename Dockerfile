# gan_zoo on one or several NVIDIA GPUs. The install step is the README's (`make setup`), so the image runs
# exactly what a fresh machine runs; torch==2.14.1 is a CUDA 13.0 build, hence the CUDA 13.0 runtime base.
#   docker build -t gan-zoo .
#   docker run --rm --gpus all -v "$PWD/outputs:/app/outputs" gan-zoo train hardware=gpu
#   docker run --rm --gpus all --ipc=host -v "$PWD/outputs:/app/outputs" gan-zoo \
#       train experiment=wgan_gp_mnist hardware=ddp hardware.devices=4      # DDP on 4 GPUs of one machine
# (--ipc=host: DDP's NCCL and DataLoader workers need more shared memory than Docker's 64 MB default.)
FROM nvidia/cuda:13.0.0-cudnn-runtime-ubuntu24.04

ENV DEBIAN_FRONTEND=noninteractive PYTHONUNBUFFERED=1 WANDB_MODE=offline
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv python3-dev make gcc git \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# Dependencies first (cached while only the code changes): the package metadata, then `make setup`.
COPY pyproject.toml Makefile README.md ./
COPY gan_zoo ./gan_zoo
RUN make setup PY=python3

COPY . .
ENTRYPOINT ["/app/.venv/bin/gan-zoo"]
CMD ["--help"]
