// The judge: would parca-agent's Go stack connect to this store? It dials the way grpc-go does
// for the agent (TLS 1.3 at least, ALPN h2 required, SNI only for names, the system roots —
// SSL_CERT_FILE and SSL_CERT_DIR included — plus a CA file, a client certificate, skip-verify),
// then calls grpc.health.v1.Health/Check over HTTP/2. Standard library only; used by the tests,
// never by the product. Prints one JSON object.
//
//	judge -address HOST:PORT [-ca FILE] [-cert FILE -key FILE] [-skip-verify] [-token T]
//	judge -verify-hostname HOST -leaf FILE   (Go's own host-name rules, nothing dialled)
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"
)

type verdict struct {
	Connect    bool   `json:"connect"`
	Stage      string `json:"stage"`
	Error      string `json:"error,omitempty"`
	GrpcStatus int    `json:"grpcStatus"`
	HTTPStatus int    `json:"httpStatus"`
	Version    string `json:"version,omitempty"`
	Cipher     string `json:"cipher,omitempty"`
}

func main() {
	address := flag.String("address", "", "host:port of the store")
	caFile := flag.String("ca", "", "extra CA bundle (PEM)")
	certFile := flag.String("cert", "", "client certificate (PEM)")
	keyFile := flag.String("key", "", "client key (PEM)")
	skipVerify := flag.Bool("skip-verify", false, "skip certificate verification")
	token := flag.String("token", "", "bearer token")
	timeout := flag.Duration("timeout", 5*time.Second, "budget for the whole call")
	verifyHost := flag.String("verify-hostname", "", "only check -leaf against this host name")
	leaf := flag.String("leaf", "", "certificate (PEM) for -verify-hostname")
	flag.Parse()
	if *verifyHost != "" {
		out(hostname(*verifyHost, *leaf))
		return
	}
	out(dial(*address, *caFile, *certFile, *keyFile, *skipVerify, *token, *timeout))
}

func out(v verdict) {
	_ = json.NewEncoder(os.Stdout).Encode(v)
}

func fail(stage string, err error) verdict {
	return verdict{Stage: stage, Error: err.Error()}
}

func hostname(host, file string) verdict {
	data, err := os.ReadFile(file)
	if err != nil {
		return fail("read", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return fail("read", errors.New("no PEM block"))
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return fail("parse", err)
	}
	if err := cert.VerifyHostname(host); err != nil {
		return fail("hostname", err)
	}
	return verdict{Connect: true, Stage: "hostname"}
}

func tlsConfig(host, caFile, certFile, keyFile string, skipVerify bool) (*tls.Config, error) {
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("no certificate in %s", caFile)
		}
	}
	config := &tls.Config{
		MinVersion:         tls.VersionTLS13,
		NextProtos:         []string{"h2"},
		RootCAs:            roots,
		InsecureSkipVerify: skipVerify,
	}
	// As grpc-go: the name verified is the address's host; crypto/tls sends it as SNI only
	// when it is not an IP address.
	config.ServerName = host
	if certFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		config.Certificates = []tls.Certificate{pair}
	}
	return config, nil
}

func dial(address, caFile, certFile, keyFile string, skipVerify bool, token string, timeout time.Duration) verdict {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fail("address", err)
	}
	config, err := tlsConfig(host, caFile, certFile, keyFile, skipVerify)
	if err != nil {
		return fail("config", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	raw, err := (&net.Dialer{}).DialContext(ctx, "tcp", address)
	if err != nil {
		return fail("tcp", err)
	}
	conn := tls.Client(raw, config)
	if err := conn.HandshakeContext(ctx); err != nil {
		raw.Close()
		return fail("tls", err)
	}
	state := conn.ConnectionState()
	v := verdict{Version: tls.VersionName(state.Version), Cipher: tls.CipherSuiteName(state.CipherSuite)}
	if state.NegotiatedProtocol != "h2" {
		conn.Close()
		v.Stage = "alpn"
		v.Error = fmt.Sprintf("ALPN %q, not h2", state.NegotiatedProtocol)
		return v
	}
	used := false
	transport := &http.Transport{
		ForceAttemptHTTP2: true,
		DialTLSContext: func(context.Context, string, string) (net.Conn, error) {
			if used {
				return nil, errors.New("one connection only")
			}
			used = true
			return conn, nil
		},
	}
	defer transport.CloseIdleConnections()
	// grpc.health.v1.HealthCheckRequest{service: ""}: an empty message, framed.
	body := bytes.NewReader([]byte{0, 0, 0, 0, 0})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+address+"/grpc.health.v1.Health/Check", body)
	if err != nil {
		return fail("http2", err)
	}
	req.Header.Set("content-type", "application/grpc")
	req.Header.Set("te", "trailers")
	if token != "" {
		req.Header.Set("authorization", "Bearer "+token)
	}
	resp, err := transport.RoundTrip(req)
	if err != nil {
		v.Stage = "http2"
		v.Error = err.Error()
		return v
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	v.HTTPStatus = resp.StatusCode
	status := resp.Trailer.Get("grpc-status")
	if status == "" {
		status = resp.Header.Get("grpc-status")
	}
	v.Stage = "health"
	if status == "" {
		v.Error = fmt.Sprintf("HTTP %d without a gRPC status", resp.StatusCode)
		v.GrpcStatus = -1
		return v
	}
	v.GrpcStatus, _ = strconv.Atoi(status)
	v.Connect = true
	return v
}
