#!/usr/bin/env bash
# Builds the Go programs the offline kind node image needs, from the Go module proxy.
#   go-build.sh kind        VERSION OUTDIR   -> OUTDIR/kind
#   go-build.sh kubernetes  VERSION OUTDIR   -> OUTDIR/{kube-apiserver,kube-controller-manager,kube-scheduler,kubelet,kubeadm,kubectl,kube-proxy}
#                                               (kube-proxy only for side-by-side tests and benchmarks)
#   go-build.sh etcd        VERSION OUTDIR   -> OUTDIR/etcd
#   go-build.sh crictl      VERSION OUTDIR   -> OUTDIR/crictl   (VERSION: cri-tools version; K8S_VERSION env: cri-api version)
#   go-build.sh coredns     VERSION OUTDIR   -> OUTDIR/coredns
# Each build happens in a throw-away wrapper module under OUTDIR/.mod, so nothing
# is written outside OUTDIR but Go's own module and build caches.
set -euo pipefail
what=$1 version=$2 out=$3
mkdir -p "$out"
out=$(cd "$out" && pwd)
mod="$out/.mod"
rm -rf "$mod" && mkdir -p "$mod" && cd "$mod"
export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local

case "$what" in
kind)
  GOBIN="$out" go install "sigs.k8s.io/kind@$version"
  ;;
kubernetes)
  staging="v0.${version#v1.}"
  go mod init local/k8sbuild >/dev/null 2>&1
  gomod=$(go mod download -json "k8s.io/kubernetes@$version" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  for m in $(awk '$2=="=>" && $3 ~ /^\.\/staging\/src\// {print $1}' "$gomod"); do
    go mod edit -replace="$m=$m@$staging"
  done
  go mod edit -require="k8s.io/kubernetes@$version"
  cmds="kube-apiserver kube-controller-manager kube-scheduler kubelet kubeadm kubectl kube-proxy"
  go get $(for c in $cmds; do echo "k8s.io/kubernetes/cmd/$c@$version"; done)
  minor=$(echo "$version" | cut -d. -f2)
  ld="-s -w"
  for p in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    ld="$ld -X $p.gitVersion=$version -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
    ld="$ld -X $p.gitCommit=0000000000000000000000000000000000000000 -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  go build -trimpath -tags=selinux,notest -ldflags "$ld" -o "$out/" $(for c in $cmds; do echo "k8s.io/kubernetes/cmd/$c"; done)
  got=$("$out/kubeadm" version -o short)
  [ "$got" = "$version" ] || { echo "kubeadm reports $got, expected $version" >&2; exit 1; }
  ;;
etcd)
  go mod init local/etcdbuild >/dev/null 2>&1
  go get "go.etcd.io/etcd/server/v3@$version"
  go build -trimpath -ldflags '-s -w' -o "$out/etcd" go.etcd.io/etcd/server/v3
  ;;
crictl)
  # cri-tools' own requirements name cri-api release candidates the checksum database
  # does not know; pin them to the Kubernetes release instead.
  go mod init local/crictl >/dev/null 2>&1
  GONOSUMDB=sigs.k8s.io/cri-tools go get "sigs.k8s.io/cri-tools@$version"
  staging="v0.${K8S_VERSION#v1.}"
  go get "k8s.io/cri-api@$staging" "k8s.io/cri-client@$staging"
  go build -trimpath -ldflags "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=$version" -o "$out/crictl" sigs.k8s.io/cri-tools/cmd/crictl
  ;;
coredns)
  # Upstream CoreDNS, for side-by-side tests and benchmarks of svclab's DNS server.
  GOBIN="$out" go install -trimpath -ldflags '-s -w' "github.com/coredns/coredns@$version"
  ;;
*) echo "go-build.sh: unknown target $what (kind|kubernetes|etcd|crictl|coredns)" >&2; exit 2 ;;
esac
rm -rf "$mod"
