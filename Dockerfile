# A container image of tornadoservice, built from this repository:
#   docker build -t tornadoservice .
#   docker run -p 8443:8443 -v /etc/grid-security:/etc/grid-security:ro \
#       -v $PWD/site:/site:ro tornadoservice
# /site/dirac.cfg is the configuration (its HandlerPath files next to it, or a package
# installed in a derived image); /etc/grid-security holds hostcert.pem, hostkey.pem and
# certificates/ (CAs and CRLs, refreshed by fetch-crl on the host: SIGHUP or
# CAReloadInterval picks them up).
FROM python:3.11-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml setup.py README.md LICENSE ./
COPY src ./src
RUN python -m venv /opt/tornadoservice && /opt/tornadoservice/bin/pip install --no-cache-dir .

FROM python:3.11-slim
COPY --from=build /opt/tornadoservice /opt/tornadoservice
RUN useradd --system --uid 1000 --home-dir /site dirac
USER dirac
ENV PATH=/opt/tornadoservice/bin:$PATH PYTHONUNBUFFERED=1
EXPOSE 8443
# The probe needs no client certificate; the host certificate names the host, not 127.0.0.1.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s CMD python -c "import ssl, urllib.request as u; c = ssl.create_default_context(capath='/etc/grid-security/certificates'); c.check_hostname = False; u.urlopen('https://127.0.0.1:8443/health/ready', context=c, timeout=4)"
# Stopped with SIGTERM (docker stop): in-flight calls drain first; give it DrainTimeout + 10s.
STOPSIGNAL SIGTERM
ENTRYPOINT ["tornadoservice", "serve"]
CMD ["--config", "/site/dirac.cfg"]
