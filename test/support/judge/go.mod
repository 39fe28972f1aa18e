module parca-agent-sidecar/judge

go 1.25
