"""Reading from a camera: frames as they arrive (any rate, uneven), the face tracked for
the preview, a clip cut out when the lips move (or on a button), read as a file is read.

    frames.py    timestamps to GRID's 25 fps, GRID's silence around a short capture
    segment.py   when a capture starts and ends (lip motion, or a countdown)
    tracker.py   the face and lips of the newest frame, for the preview and the segmenter
    overlay.py   the preview: face box, lip points, the crop beside the picture
    window.py    a capture's frames as they arrive, its mouth found meanwhile
    capture.py   a capture read: the one pipeline of files, and its clip as mp4
    session.py   one browser session's camera: the threads that do the above
    ice.py       the WebRTC ICE servers (none unless configured)
    fakecam.py   a video as Chromium's fake camera file (Y4M), for tests and the benchmark
"""
