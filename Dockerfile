# The lip-reading app: docker build -t lipread . && docker run -p 8501:8501 -v "$PWD/data:/data" lipread
# Reading only (the page, predict, evaluate; no TensorFlow): docker build --target reader -t lipread-reader .
FROM python:3.11-slim AS reader

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    LIPREAD_DATA_DIR=/data \
    LIPREAD_PROFILES_DIR=/profiles

WORKDIR /app
# opencv-python-headless and av (PyAV) bring their own FFmpeg libraries (reading; writing
# H.264 for the browser), dlib-bin a self-contained dlib, face-recognition-models dlib's 68-point landmark model
# (inside the package: nothing is fetched at run time): no apt packages are needed.
COPY requirements.txt requirements-train.txt ./
RUN pip install -r requirements.txt

COPY . .
# The `lipread` command (lipread <verb>), over the package as copied.
RUN pip install --no-deps -e .
RUN useradd --create-home --uid 1000 lipread && mkdir -p /data /profiles && \
    chown lipread /data /profiles
USER lipread
# What reading builds on its first run, built into the image: the ONNX export of the
# shipped weights, dlib's face models in their quickly loaded forms (~/.cache/lipread).
RUN lipread export

# GRID data (s1/, alignments/s1/): mount a copy, or fill it with `lipread download data --dest /data`.
VOLUME /data /profiles
EXPOSE 8501
# The Live page's camera comes over WebRTC (UDP, aiortc's free ports): run with
# `--network host`, or give a TURN server in LIPREAD_ICE_SERVERS (README: Live). Browsers
# give a page the camera only over https or on localhost.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4)"
CMD ["streamlit", "run", "app.py", "--server.address=0.0.0.0", "--server.port=8501", "--server.headless=true"]

# The default image: reading and training (the page's "Teach it your face" trains).
FROM reader AS app
USER root
RUN pip install -r requirements-train.txt
USER lipread
