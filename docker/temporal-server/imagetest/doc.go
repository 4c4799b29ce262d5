// Package imagetest proves what docker/temporal-server/Dockerfile builds without a Docker
// daemon. Its tests compile the Dockerfile to an LLB build graph with BuildKit's own Dockerfile
// frontend (github.com/moby/buildkit/frontend/dockerfile/dockerfile2llb, the code `docker
// buildx build` runs) for linux/arm64 and linux/amd64, and run the Dockerfile's `go build` step
// for linux/arm64 on this machine and read the ELF header of the result.
//
// It is a module of its own so that BuildKit does not enter the server module's dependencies.
package imagetest
