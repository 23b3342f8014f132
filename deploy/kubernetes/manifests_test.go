// Package kubernetes holds dhtnode's Kubernetes manifests and, in this test
// only, the checks that they are valid objects of the Kubernetes API and
// agree with each other, with the Secrets secrets.sh prints and with the
// node itself. The package has no non-test code, so the dhtnode binary never
// links the Kubernetes types.
package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/dhtnode/dhtnode/config"
	"github.com/dhtnode/dhtnode/internal/leakcheck"
	"github.com/dhtnode/dhtnode/node"
)

// manifests are the decoded objects, by kind and name.
type manifests struct {
	configMaps   map[string]*corev1.ConfigMap
	secrets      map[string]*corev1.Secret
	services     map[string]*corev1.Service
	statefulSets map[string]*appsv1.StatefulSet
	pdbs         map[string]*policyv1.PodDisruptionBudget
}

// load decodes every manifest of this directory and the Secrets secrets.sh
// prints, each strictly: an unknown or misspelt field is an error.
func load(t *testing.T) *manifests {
	t.Helper()
	m := &manifests{
		configMaps:   map[string]*corev1.ConfigMap{},
		secrets:      map[string]*corev1.Secret{},
		services:     map[string]*corev1.Service{},
		statefulSets: map[string]*appsv1.StatefulSet{},
		pdbs:         map[string]*policyv1.PodDisruptionBudget{},
	}
	files, err := filepath.Glob("*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m.decode(t, f, data)
	}
	m.decode(t, "secrets.sh", renderedSecrets)
	return m
}

var docSeparator = regexp.MustCompile(`(?m)^---\s*$`)

func (m *manifests) decode(t *testing.T, file string, data []byte) {
	t.Helper()
	for i, doc := range docSeparator.Split(string(data), -1) {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		where := fmt.Sprintf("%s document %d", file, i+1)
		var typ metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &typ); err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		var name string
		switch typ.APIVersion + " " + typ.Kind {
		case "v1 ConfigMap":
			name = decodeInto(t, where, doc, m.configMaps)
		case "v1 Secret":
			name = decodeInto(t, where, doc, m.secrets)
		case "v1 Service":
			name = decodeInto(t, where, doc, m.services)
		case "apps/v1 StatefulSet":
			name = decodeInto(t, where, doc, m.statefulSets)
		case "policy/v1 PodDisruptionBudget":
			name = decodeInto(t, where, doc, m.pdbs)
		default:
			t.Fatalf("%s: unexpected kind %q %q", where, typ.APIVersion, typ.Kind)
		}
		if name == "" {
			t.Errorf("%s: %s without a name", where, typ.Kind)
		}
	}
}

// decodeInto decodes doc strictly into a new T, files it under its name in
// into and returns the name.
func decodeInto[T any, P interface {
	*T
	GetName() string
}](t *testing.T, where, doc string, into map[string]P) string {
	t.Helper()
	obj := P(new(T))
	if err := decodeStrict(doc, obj); err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	if _, dup := into[obj.GetName()]; dup {
		t.Fatalf("%s: a second %q", where, obj.GetName())
	}
	into[obj.GetName()] = obj
	return obj.GetName()
}

// decodeStrict decodes a YAML document as the API server decodes a
// request it validates strictly: field names are case-sensitive, unknown
// and duplicate fields are errors.
func decodeStrict(doc string, obj any) error {
	data, err := yaml.YAMLToJSONStrict([]byte(doc))
	if err != nil {
		return err
	}
	strict, err := kjson.UnmarshalStrict(data, obj, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

func stripComments(doc string) string {
	var b strings.Builder
	for line := range strings.Lines(doc) {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line)
		}
	}
	return b.String()
}

// renderedSecrets is what secrets.sh printed, run once by TestMain.
var renderedSecrets []byte

func TestMain(m *testing.M) {
	out, err := renderSecrets()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	renderedSecrets = out
	leakcheck.VerifyTestMain(m)
}

// renderSecrets runs secrets.sh as the README says, with a freshly built
// dhtnode, and returns what it prints.
func renderSecrets() ([]byte, error) {
	dir, err := os.MkdirTemp("", "dhtnode-k8s-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "dhtnode")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/dhtnode/dhtnode/cmd/dhtnode").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build dhtnode: %v\n%s", err, out)
	}
	cmd := exec.Command("./secrets.sh", filepath.Join(dir, "seed"))
	cmd.Env = append(os.Environ(), "DHTNODE_BIN="+bin)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("secrets.sh: %v", err)
	}
	return out, nil
}

// secretValue returns a Secret's key from data or stringData.
func (m *manifests) secretValue(name, key string) ([]byte, bool) {
	s, ok := m.secrets[name]
	if !ok {
		return nil, false
	}
	if v, ok := s.StringData[key]; ok {
		return []byte(v), true
	}
	v, ok := s.Data[key]
	return v, ok
}

// nodeConfig is the ConfigMap's config.yaml as the node loads it.
func (m *manifests) nodeConfig(t *testing.T, sts *appsv1.StatefulSet) config.Config {
	t.Helper()
	c := container(t, sts)
	if !slices.Equal(c.Args, []string{"run", "--config", "/etc/dhtnode/config.yaml"}) {
		t.Fatalf("%s runs %v, want run --config /etc/dhtnode/config.yaml", sts.Name, c.Args)
	}
	mount := mountAt(t, sts, "/etc/dhtnode/config.yaml")
	vol := volume(t, sts, mount.Name)
	if vol.ConfigMap == nil {
		t.Fatalf("%s: volume %s is not a ConfigMap", sts.Name, vol.Name)
	}
	cm, ok := m.configMaps[vol.ConfigMap.Name]
	if !ok {
		t.Fatalf("%s: no ConfigMap %s", sts.Name, vol.ConfigMap.Name)
	}
	text, ok := cm.Data[mount.SubPath]
	if !ok {
		t.Fatalf("ConfigMap %s has no key %s", cm.Name, mount.SubPath)
	}
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatalf("ConfigMap %s: %v", cm.Name, err)
	}
	return cfg
}

// env resolves a container's environment as the kubelet would: Secret keys
// and $(VAR) references to earlier variables. Files the node reads (the seed
// key) are given the Secret's content under a temporary directory, and the
// returned environment points there.
func (m *manifests) env(t *testing.T, sts *appsv1.StatefulSet) []string {
	t.Helper()
	c := container(t, sts)
	values := map[string]string{}
	var out []string
	for _, e := range c.Env {
		v := e.Value
		switch {
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			data, ok := m.secretValue(ref.Name, ref.Key)
			if !ok {
				t.Fatalf("%s: %s refers to Secret %s key %s, which secrets.sh does not make", sts.Name, e.Name, ref.Name, ref.Key)
			}
			v = string(data)
		case e.ValueFrom != nil:
			t.Fatalf("%s: %s: only Secret references are expected", sts.Name, e.Name)
		}
		v = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`).ReplaceAllStringFunc(v, func(ref string) string {
			name := ref[2 : len(ref)-1]
			val, ok := values[name]
			if !ok {
				t.Fatalf("%s: %s refers to $(%s), not defined before it", sts.Name, e.Name, name)
			}
			return val
		})
		if e.Name == config.EnvName("identity_file") {
			v = m.mountedSecretFile(t, sts, v)
		}
		values[e.Name] = v
		out = append(out, e.Name+"="+v)
	}
	return out
}

// mountedSecretFile checks that path is a file of a Secret volume and writes
// that key's content to a temporary file, whose path it returns.
func (m *manifests) mountedSecretFile(t *testing.T, sts *appsv1.StatefulSet, path string) string {
	t.Helper()
	mount := mountAt(t, sts, filepath.Dir(path))
	vol := volume(t, sts, mount.Name)
	if vol.Secret == nil {
		t.Fatalf("%s: %s is not on a Secret volume", sts.Name, path)
	}
	key := filepath.Base(path)
	for _, item := range vol.Secret.Items {
		if item.Path == filepath.Base(path) {
			key = item.Key
		}
	}
	data, ok := m.secretValue(vol.Secret.SecretName, key)
	if !ok {
		t.Fatalf("%s: Secret %s has no key %s for %s", sts.Name, vol.Secret.SecretName, key, path)
	}
	if mode := vol.Secret.DefaultMode; mode == nil || *mode&0o007 != 0 {
		t.Errorf("%s: Secret volume %s must not be world-readable (defaultMode %o)", sts.Name, vol.Name, *mode)
	}
	local := filepath.Join(t.TempDir(), key)
	if err := os.WriteFile(local, data, 0o400); err != nil {
		t.Fatal(err)
	}
	return local
}

// effectiveConfig is the configuration a pod's node runs with.
func (m *manifests) effectiveConfig(t *testing.T, sts *appsv1.StatefulSet) config.Config {
	t.Helper()
	cfg := m.nodeConfig(t, sts)
	if err := config.ApplyEnv(&cfg, m.env(t, sts)); err != nil {
		t.Fatalf("%s: environment: %v", sts.Name, err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("%s: the node would refuse its configuration: %v", sts.Name, err)
	}
	return cfg
}

func container(t *testing.T, sts *appsv1.StatefulSet) *corev1.Container {
	t.Helper()
	cs := sts.Spec.Template.Spec.Containers
	if len(cs) != 1 {
		t.Fatalf("%s: %d containers, want 1", sts.Name, len(cs))
	}
	return &cs[0]
}

func mountAt(t *testing.T, sts *appsv1.StatefulSet, path string) corev1.VolumeMount {
	t.Helper()
	for _, vm := range container(t, sts).VolumeMounts {
		if vm.MountPath == path {
			return vm
		}
	}
	t.Fatalf("%s: nothing mounted at %s", sts.Name, path)
	return corev1.VolumeMount{}
}

func volume(t *testing.T, sts *appsv1.StatefulSet, name string) corev1.Volume {
	t.Helper()
	for _, v := range sts.Spec.Template.Spec.Volumes {
		if v.Name == name {
			return v
		}
	}
	t.Fatalf("%s: no volume %s", sts.Name, name)
	return corev1.Volume{}
}

func containerPort(t *testing.T, sts *appsv1.StatefulSet, name string) corev1.ContainerPort {
	t.Helper()
	for _, p := range container(t, sts).Ports {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("%s: no container port %s", sts.Name, name)
	return corev1.ContainerPort{}
}

// probes are a container's liveness and readiness probes, with the path each
// must ask and the status a node without peers answers it with.
func probes(c *corev1.Container) []struct {
	probe *corev1.Probe
	path  string
	alone int
} {
	return []struct {
		probe *corev1.Probe
		path  string
		alone int
	}{{c.LivenessProbe, "/healthz", http.StatusOK}, {c.ReadinessProbe, "/readyz", http.StatusServiceUnavailable}}
}

func formatSeconds(s *int64) string {
	if s == nil {
		return "unset"
	}
	return strconv.FormatInt(*s, 10) + "s"
}

func selects(t *testing.T, sel *metav1.LabelSelector, podLabels map[string]string) bool {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Fatal(err)
	}
	return !s.Empty() && s.Matches(labels.Set(podLabels))
}

func TestManifestsDecodeStrictly(t *testing.T) {
	m := load(t)
	if len(m.statefulSets) != 2 || len(m.services) != 1 || len(m.pdbs) != 1 || len(m.configMaps) != 1 || len(m.secrets) != 2 {
		t.Fatalf("got %d StatefulSets, %d Services, %d PDBs, %d ConfigMaps, %d Secrets; want 2, 1, 1, 1, 2",
			len(m.statefulSets), len(m.services), len(m.pdbs), len(m.configMaps), len(m.secrets))
	}
	// The strict decoder refuses misspelt and mistyped fields.
	for _, field := range []string{"clusterIp: None", "clusterIPs: None", "publishNotReady: true"} {
		bad := "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\nspec:\n  " + field + "\n"
		if err := decodeStrict(bad, &corev1.Service{}); err == nil {
			t.Errorf("%q decoded", field)
		}
	}
}

// Every StatefulSet: its Service is headless and publishes pods before they
// are ready, its selector picks its pods, the Service's ports reach its
// containers' ports, which are the ports the node listens on, each pod has
// a volume claim at data_dir, resources are requested, the grace period
// outlasts the graceful leave, and the node accepts its configuration.
func TestStatefulSetsAgreeWithServiceAndConfig(t *testing.T) {
	m := load(t)
	for _, sts := range m.statefulSets {
		t.Run(sts.Name, func(t *testing.T) {
			svc, ok := m.services[sts.Spec.ServiceName]
			if !ok {
				t.Fatalf("serviceName %q is no Service", sts.Spec.ServiceName)
			}
			if svc.Spec.ClusterIP != corev1.ClusterIPNone || !svc.Spec.PublishNotReadyAddresses {
				t.Errorf("Service %s: clusterIP %q, publishNotReadyAddresses %v; want a headless Service that publishes unready pods",
					svc.Name, svc.Spec.ClusterIP, svc.Spec.PublishNotReadyAddresses)
			}
			podLabels := sts.Spec.Template.Labels
			if !selects(t, sts.Spec.Selector, podLabels) {
				t.Errorf("selector %v does not select the pod labels %v", sts.Spec.Selector, podLabels)
			}
			if !selects(t, &metav1.LabelSelector{MatchLabels: svc.Spec.Selector}, podLabels) {
				t.Errorf("Service %s does not select the pods (%v)", svc.Name, podLabels)
			}
			if sts.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
				t.Errorf("podManagementPolicy %q: pods become ready only with peers, so they must start in parallel", sts.Spec.PodManagementPolicy)
			}
			for _, sp := range svc.Spec.Ports {
				cp := containerPort(t, sts, sp.TargetPort.String())
				if sp.TargetPort.Type != intstr.String || cp.ContainerPort != sp.Port || cp.Protocol != sp.Protocol {
					t.Errorf("Service port %s (%d/%s → %s) does not match container port %d/%s", sp.Name, sp.Port, sp.Protocol, sp.TargetPort.String(), cp.ContainerPort, cp.Protocol)
				}
			}

			cfg := m.effectiveConfig(t, sts)
			wantPort := func(name string, proto corev1.Protocol, port string) {
				t.Helper()
				cp := containerPort(t, sts, name)
				if strconv.Itoa(int(cp.ContainerPort)) != port || cp.Protocol != proto {
					t.Errorf("container port %s is %d/%s, the node listens on %s/%s", name, cp.ContainerPort, cp.Protocol, port, proto)
				}
			}
			for _, a := range cfg.Listen {
				if port, err := a.ValueForProtocol(ma.P_TCP); err == nil {
					wantPort("p2p-tcp", corev1.ProtocolTCP, port)
				}
				if port, err := a.ValueForProtocol(ma.P_UDP); err == nil {
					wantPort("p2p-udp", corev1.ProtocolUDP, port)
				}
			}
			_, apiPort, err := net.SplitHostPort(cfg.API.Listen)
			if err != nil {
				t.Fatal(err)
			}
			wantPort("api", corev1.ProtocolTCP, apiPort)

			data := mountAt(t, sts, cfg.DataDir)
			if !slices.ContainsFunc(sts.Spec.VolumeClaimTemplates, func(c corev1.PersistentVolumeClaim) bool { return c.Name == data.Name }) {
				t.Errorf("data_dir %s is on volume %s, which is no volume claim template", cfg.DataDir, data.Name)
			}
			res := container(t, sts).Resources.Requests
			if res.Cpu().IsZero() || res.Memory().IsZero() {
				t.Errorf("resource requests %v: want cpu and memory", res)
			}
			grace := sts.Spec.Template.Spec.TerminationGracePeriodSeconds
			if grace == nil || time.Duration(*grace)*time.Second <= cfg.ShutdownTimeout {
				t.Errorf("terminationGracePeriodSeconds (%s) must exceed shutdown_timeout %s", formatSeconds(grace), cfg.ShutdownTimeout)
			}
			for _, pr := range probes(container(t, sts)) {
				if pr.probe == nil || pr.probe.HTTPGet == nil || pr.probe.HTTPGet.Path != pr.path || pr.probe.HTTPGet.Port.String() != "api" {
					t.Errorf("want an HTTP probe of %s on port api, got %+v", pr.path, pr.probe)
				}
			}
		})
	}
}

// The seed runs as the Secret's key; every other pod bootstraps from the
// seed's stable DNS name with that key's peer ID.
func TestNodesBootstrapFromTheSeedByName(t *testing.T) {
	m := load(t)
	var seed *appsv1.StatefulSet
	for _, sts := range m.statefulSets {
		if cfg := m.effectiveConfig(t, sts); cfg.IdentityFile != "" {
			if seed != nil {
				t.Fatalf("two seeds: %s and %s", seed.Name, sts.Name)
			}
			seed = sts
		}
	}
	if seed == nil || *seed.Spec.Replicas != 1 {
		t.Fatal("want one StatefulSet of one pod with identity_file, the seed")
	}
	seedCfg := m.effectiveConfig(t, seed)
	raw, err := os.ReadFile(seedCfg.IdentityFile)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := crypto.UnmarshalPrivateKey(raw)
	if err != nil {
		t.Fatalf("the seed's identity.key: %v", err)
	}
	seedID, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	wantName := seed.Name + "-0." + seed.Spec.ServiceName // the pod's name under the headless Service
	for _, sts := range m.statefulSets {
		if sts == seed {
			continue
		}
		cfg := m.effectiveConfig(t, sts)
		if len(cfg.Bootstrap) != 1 {
			t.Fatalf("%s: bootstrap %v, want the seed", sts.Name, cfg.Bootstrap)
		}
		b := cfg.Bootstrap[0]
		if b.ID != seedID {
			t.Errorf("%s bootstraps from %s, the seed is %s", sts.Name, b.ID, seedID)
		}
		if len(b.Addrs) != 1 {
			t.Fatalf("%s: bootstrap addresses %v", sts.Name, b.Addrs)
		}
		name, err := b.Addrs[0].ValueForProtocol(ma.P_DNS4)
		if err != nil || name != wantName {
			t.Errorf("%s bootstraps from %s, want /dns4/%s", sts.Name, b.Addrs[0], wantName)
		}
		port, err := b.Addrs[0].ValueForProtocol(ma.P_TCP)
		if err != nil || port != strconv.Itoa(int(containerPort(t, seed, "p2p-tcp").ContainerPort)) {
			t.Errorf("%s bootstraps to port %s, the seed listens on p2p-tcp", sts.Name, port)
		}
	}
}

// Voluntary disruptions leave a write quorum of every key: with k holders
// per key (the factor, or fewer pods) and a write quorum W, any k pods may
// be a key's holders, so at most k - W may be down at once.
func TestDisruptionBudgetKeepsAWriteQuorum(t *testing.T) {
	m := load(t)
	pods := 0
	var cfg config.Config
	for _, sts := range m.statefulSets {
		pods += int(*sts.Spec.Replicas)
		cfg = m.effectiveConfig(t, sts)
	}
	k := min(cfg.Replication.Factor, pods)
	w := int(cfg.Replication.WriteQuorum)
	if w == 0 { // majority
		w = k/2 + 1
	}
	r := int(cfg.Replication.ReadQuorum)
	if r == 0 {
		r = k/2 + 1
	}
	for _, pdb := range m.pdbs {
		for _, sts := range m.statefulSets {
			if !selects(t, pdb.Spec.Selector, sts.Spec.Template.Labels) {
				t.Errorf("PDB %s does not cover the pods of %s", pdb.Name, sts.Name)
			}
		}
		mu := pdb.Spec.MaxUnavailable
		if mu == nil || mu.Type != intstr.Int || pdb.Spec.MinAvailable != nil {
			t.Fatalf("PDB %s: want an integer maxUnavailable", pdb.Name)
		}
		if got := mu.IntValue(); got < 1 || got > k-w || got > k-r {
			t.Errorf("PDB %s: maxUnavailable %d, want 1 to k-W = %d-%d (and k-R = %d-%d)", pdb.Name, got, k, w, k, r)
		}
	}
}

// The probes ask paths the node serves without a token: a node started
// with the pod's configuration answers /healthz with 200 and /readyz with
// 503 (alone, it has no peers), never 401 or 404.
func TestProbesHitTheNodesAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node")
	}
	m := load(t)
	for _, sts := range m.statefulSets {
		t.Run(sts.Name, func(t *testing.T) {
			cfg := m.effectiveConfig(t, sts)
			cfg.DataDir = t.TempDir()
			cfg.Listen = []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0")}
			cfg.API.Listen = "127.0.0.1:0"
			cfg.Bootstrap = nil
			n, err := node.New(cfg, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			defer n.Close()
			if err := n.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			for _, probe := range probes(container(t, sts)) {
				if probe.probe == nil || probe.probe.HTTPGet == nil {
					t.Fatalf("no HTTP probe of %s", probe.path)
				}
				resp, err := http.Get(n.APIURL() + probe.probe.HTTPGet.Path)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != probe.alone {
					t.Errorf("GET %s: %d, want %d", probe.path, resp.StatusCode, probe.alone)
				}
			}
		})
	}
}
