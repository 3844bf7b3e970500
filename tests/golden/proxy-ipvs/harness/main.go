// Runs one sync of upstream kube-proxy's IPVS proxier (k8s.io/kubernetes/pkg/proxy/ipvs,
// v1.34.4) on a kernel without IP_VS: the real iptables and ipset of the network namespace
// it runs in, the real kube-ipvs0 (created beforehand by the caller, as this kernel has no
// dummy links either) and upstream's own fake IPVS (pkg/proxy/ipvs/util/testing) for the
// virtual servers. Reads {"items": [...], "settings": {...}} on stdin (the objects as an
// API server returns them) and prints what the proxier did as JSON: the iptables-restore
// input it wrote and its virtual servers as ipvsadm-restore lines.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"time"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	"k8s.io/client-go/tools/events"
	sysctltest "k8s.io/component-helpers/node/util/sysctl/testing"
	"k8s.io/kubernetes/pkg/proxy/healthcheck"
	"k8s.io/kubernetes/pkg/proxy/ipvs"
	utilipset "k8s.io/kubernetes/pkg/proxy/ipvs/ipset"
	utilipvs "k8s.io/kubernetes/pkg/proxy/ipvs/util"
	ipvstest "k8s.io/kubernetes/pkg/proxy/ipvs/util/testing"
	proxyutil "k8s.io/kubernetes/pkg/proxy/util"
	utiliptables "k8s.io/kubernetes/pkg/util/iptables"
)

type settings struct {
	NodeName          string   `json:"nodeName"`
	NodeIP            string   `json:"nodeIP"`
	ClusterCIDR       string   `json:"clusterCIDR"`
	MasqueradeAll     bool     `json:"masqueradeAll"`
	MasqueradeBit     int      `json:"masqueradeBit"`
	NodePortAddresses []string `json:"nodePortAddresses"`
	Scheduler         string   `json:"scheduler"`
}

type input struct {
	Items    []json.RawMessage `json:"items"`
	Settings settings          `json:"settings"`
}

// recordingIPTables is the real iptables that also keeps the last iptables-restore input.
type recordingIPTables struct {
	utiliptables.Interface
	restored []byte
}

func (r *recordingIPTables) RestoreAll(data []byte, flush utiliptables.FlushFlag, counters utiliptables.RestoreCountersFlag) error {
	r.restored = append([]byte(nil), data...)
	return r.Interface.RestoreAll(data, flush, counters)
}

func main() {
	var in input
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		fail("reading stdin: %v", err)
	}
	s := in.Settings
	ipt := &recordingIPTables{Interface: utiliptables.New(utiliptables.ProtocolIPv4)}
	fakeIPVS := ipvstest.NewFake()
	detector := proxyutil.NewNoOpLocalDetector()
	if s.ClusterCIDR != "" {
		detector = proxyutil.NewDetectLocalByCIDR(s.ClusterCIDR)
	}
	var healthz *healthcheck.ProxyHealthServer
	proxier, err := ipvs.NewProxier(context.Background(), v1.IPv4Protocol, ipt, fakeIPVS, utilipset.New(), sysctltest.NewFake(),
		30*time.Second, time.Second, nil, false, 0, 0, 0, s.MasqueradeAll, s.MasqueradeBit, detector, s.NodeName,
		net.ParseIP(s.NodeIP), events.NewFakeRecorder(100), healthz, s.Scheduler, s.NodePortAddresses, false)
	if err != nil {
		fail("NewProxier: %v", err)
	}
	var zone string
	for _, raw := range in.Items {
		var meta struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Labels map[string]string `json:"labels"`
			} `json:"metadata"`
		}
		_ = json.Unmarshal(raw, &meta)
		// What kube-proxy's informers never list (their label selector).
		if _, ok := meta.Metadata.Labels["service.kubernetes.io/service-proxy-name"]; ok && meta.Kind != "Node" {
			continue
		}
		if _, ok := meta.Metadata.Labels["service.kubernetes.io/headless"]; ok && meta.Kind != "Node" {
			continue
		}
		switch meta.Kind {
		case "Service":
			var svc v1.Service
			must(json.Unmarshal(raw, &svc))
			proxier.OnServiceAdd(&svc)
		case "EndpointSlice":
			var eps discovery.EndpointSlice
			must(json.Unmarshal(raw, &eps))
			proxier.OnEndpointSliceAdd(&eps)
		case "Node":
			var node v1.Node
			must(json.Unmarshal(raw, &node))
			if node.Name == s.NodeName {
				zone = node.Labels[v1.LabelTopologyZone]
			}
		}
	}
	if zone != "" {
		proxier.OnTopologyChange(map[string]string{v1.LabelTopologyZone: zone})
	}
	proxier.OnServiceSynced()
	proxier.OnEndpointSlicesSynced()

	out := map[string]any{"restore": string(ipt.restored), "ipvs": ipvsLines(fakeIPVS)}
	must(json.NewEncoder(os.Stdout).Encode(out))
}

// ipvsLines writes the fake's virtual servers as svclab writes ipvsadm-restore lines.
func ipvsLines(f *ipvstest.FakeIPVS) []string {
	var lines []string
	services, _ := f.GetVirtualServers()
	for _, vs := range services {
		svc := serviceArgs(vs)
		line := fmt.Sprintf("-A %s -s %s", svc, vs.Scheduler)
		if vs.Flags&utilipvs.FlagPersistent != 0 {
			line += fmt.Sprintf(" -p %d", vs.Timeout)
		}
		if vs.Flags&utilipvs.FlagSourceHash != 0 {
			line += " -b mh-port"
		}
		lines = append(lines, line)
		dests, _ := f.GetRealServers(vs)
		for _, rs := range dests {
			lines = append(lines, fmt.Sprintf("-a %s -r %s -m -w %d", svc, net.JoinHostPort(rs.Address.String(), strconv.Itoa(int(rs.Port))), rs.Weight))
		}
	}
	sort.Strings(lines)
	return lines
}

func serviceArgs(vs *utilipvs.VirtualServer) string {
	opt := map[string]string{"TCP": "-t", "UDP": "-u", "SCTP": "--sctp-service"}[vs.Protocol]
	return opt + " " + net.JoinHostPort(vs.Address.String(), strconv.Itoa(int(vs.Port)))
}

func must(err error) {
	if err != nil {
		fail("%v", err)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "ipvs-harness: "+format+"\n", args...)
	os.Exit(1)
}
