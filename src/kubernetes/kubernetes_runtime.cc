#include "src/kubernetes/kubernetes_runtime.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "src/common/status.h"
#include "src/kubernetes/objects.h"
#include "src/kubernetes/pod_state.h"

namespace hut::kubernetes {
namespace {

using json = nlohmann::json;

const ResourceType kDeployments{"/apis/apps/v1", "deployments"};
const ResourceType kPods{"/api/v1", "pods"};
const ResourceType kServices{"/api/v1", "services"};
const ResourceType kRoutes{"/apis/gateway.networking.k8s.io/v1", "httproutes"};
const ResourceType kIngresses{"/apis/networking.k8s.io/v1", "ingresses"};
const ResourceType kServiceScales{"/apis/hut.foohut.dev/v1", "servicescales"};

// Every object of a foohut service carries this label, hut's and the chart's.
const std::string kServiceSelector(kLabelService);

std::string Str(const json& o, const json::json_pointer& p) {
  const json v = o.value(p, json());
  return v.is_string() ? v.get<std::string>() : "";
}

int Int(const json& o, const json::json_pointer& p) {
  const json v = o.value(p, json());
  return v.is_number_integer() ? v.get<int>() : 0;
}

int RevisionLabel(const json& labels) {
  int n = 0;
  if (labels.is_object()) {
    auto it = labels.find(std::string(kLabelRevision));
    if (it != labels.end() && it->is_string()) (void)absl::SimpleAtoi(it->get<std::string>(), &n);
  }
  return n;
}

// The revision the stable Deployment's pod template runs.
int TemplateRevision(const json& d) {
  return RevisionLabel(d.value(json::json_pointer("/spec/template/metadata/labels"), json()));
}

bool Deleting(const json& o) {
  return !o.value(json::json_pointer("/metadata/deletionTimestamp"), json()).is_null();
}

// The Deployment controller has rolled `d` out completely: its current
// generation observed, every replica updated and available.
bool RolledOut(const json& d) {
  const int want = Int(d, json::json_pointer("/spec/replicas"));
  return Int(d, json::json_pointer("/status/observedGeneration")) >=
             Int(d, json::json_pointer("/metadata/generation")) &&
         Int(d, json::json_pointer("/status/updatedReplicas")) >= want &&
         Int(d, json::json_pointer("/status/availableReplicas")) >= want &&
         Int(d, json::json_pointer("/status/replicas")) == want;
}

// Who other than hut set the Deployment's pod template (TrimDeployment).
json SetByOthers(const json& d) {
  json managers = d.value(json::json_pointer("/metadata/templateManagers"), json::array());
  return managers.is_array() ? managers : json::array();
}

// The Deployment whose ReplicaSet owns `pod`: the ReplicaSet's name less
// its "-<pod-template-hash>".
std::string OwnerDeployment(const json& pod) {
  const std::string hash = Str(pod, json::json_pointer("/metadata/labels/pod-template-hash"));
  const json owners = pod.value(json::json_pointer("/metadata/ownerReferences"), json::array());
  if (hash.empty() || !owners.is_array()) return "";
  for (const json& o : owners) {
    const std::string name = o.is_object() ? o.value("name", "") : "";
    if (name.ends_with("-" + hash)) return name.substr(0, name.size() - hash.size() - 1);
  }
  return "";
}

std::string Path(const std::string& ns, const ResourceType& type, const std::string& name) {
  return ObjectPath(type.api, ns, type.plural, name);
}

}  // namespace

// One Apply's decisions over a snapshot of the caches.
class KubernetesRuntime::Pass {
 public:
  Pass(KubernetesRuntime& rt, const std::string& service, const runtime::ServicePlan& plan,
       const std::map<int, runtime::RevisionTemplate>& templates,
       std::map<std::string, int>& reported_out_of_band, runtime::ApplyResult& out)
      : rt_(rt),
        reported_out_of_band_(reported_out_of_band),
        ctx_{rt.spec_, rt.env_},
        service_(service),
        plan_(plan),
        templates_(templates),
        out_(out),
        stable_name_(WorkloadName(ctx_, service)) {
    for (const json& d : rt.deployments_->List(service)) {
      deployments_[Str(d, json::json_pointer("/metadata/name"))] = d;
    }
    for (const json& p : rt.pods_->List(service)) {
      if (Deleting(p)) continue;
      ++pod_count_;
      const int revision = RevisionLabel(p.value(json::json_pointer("/metadata/labels"), json()));
      if (ReadPod(p, {}, rt.clock_.Now()).replica.state == runtime::ReplicaState::kReady) {
        ++ready_[revision];
      }
    }
    for (const runtime::RevisionTarget& t : plan.revisions) {
      if (t.replicas > 0) desired_[t.revision] = t.replicas;
    }
  }

  // Returns Aborted when the stable Deployment changed under it: decide again.
  absl::Status Run() {
    for (const auto& [revision, n] : desired_) {
      if (!templates_.contains(revision)) {
        return absl::InvalidArgumentError(
            absl::StrCat("revision ", revision, " of ", service_, " has ", n,
                         " replicas in the plan and no template"));
      }
    }
    DecideStable();
    // Services first (a route must not name one that does not exist), then
    // whatever grows, the route, and only then whatever shrinks or goes.
    Note(ApplyObject(rt_.services_.get(), kServices, MainServiceObject(ctx_, service_), false));
    for (int revision : RoutedRevisions()) {
      Note(ApplyObject(rt_.services_.get(), kServices,
                       RevisionServiceObject(ctx_, service_, revision), false));
    }
    Note(ApplyScale());
    if (!frozen_) HUT_RETURN_IF_ERROR(ApplyWorkloads(/*growing=*/true));
    if (rt_.env_.router.kind != spec::RouterKind::kReplicas) Note(ApplyRoute());
    if (frozen_) return first_error_;
    HUT_RETURN_IF_ERROR(ApplyWorkloads(/*growing=*/false));
    DeleteLeftovers();
    return first_error_;
  }

 private:
  // Which revision Deployment foohut-S runs after this pass, and whether a
  // promotion is under way (the stable takes over the revision of foohut-S-rN).
  void DecideStable() {
    auto it = deployments_.find(stable_name_);
    if (it != deployments_.end() && !Deleting(it->second)) {
      const json& stable = it->second;
      const int running = TemplateRevision(stable);
      const json managers = SetByOthers(stable);
      if (!managers.empty()) {
        // Someone else set its template (kubectl rollout undo): follow it, do
        // not fight it. Until the plan names the revision it runs, hut changes
        // no workload and routes everything to it.
        frozen_ = !desired_.contains(running);
        stable_revision_ = running;
        if (frozen_ && reported_out_of_band_[service_] != running) {
          reported_out_of_band_[service_] = running;
          out_.changes.push_back(
              {"kubernetes.out_of_band",
               absl::StrCat("Deployment ", stable_name_, " was changed outside hut (by ",
                            managers.dump(), "): it runs revision ", running,
                            "; hut follows it and changes no workload of ", service_,
                            " until a rollout names that revision"),
               {{"deployment", stable_name_}, {"revision", running}, {"managers", managers}}});
        }
        if (frozen_) return;
      }
      reported_out_of_band_.erase(service_);
      if (desired_.contains(running) || desired_.empty()) {
        stable_revision_ = running;
        return;
      }
    }
    // A new stable: the revision with the most replicas, the newest of equals.
    for (const auto& [revision, n] : desired_) {
      if (stable_revision_ == 0 || n >= desired_[stable_revision_]) stable_revision_ = revision;
    }
  }

  // The revisions the route and their Services cover: those with replicas.
  std::vector<int> RoutedRevisions() const {
    std::vector<int> out;
    if (frozen_) return {stable_revision_};
    for (const auto& [revision, n] : desired_) out.push_back(revision);
    return out;
  }

  int Current(const std::string& name) const {
    auto it = deployments_.find(name);
    return it == deployments_.end() ? -1 : Int(it->second, json::json_pointer("/spec/replicas"));
  }

  // growing: Deployments that are new or scale up; else those that scale down.
  absl::Status ApplyWorkloads(bool growing) {
    // The stable Deployment.
    if (stable_revision_ != 0) {
      const int want = desired_.contains(stable_revision_) ? desired_[stable_revision_] : 0;
      const int have = Current(stable_name_);
      if ((want >= have) == growing) {
        const runtime::RevisionTemplate* t = Template(stable_revision_);
        if (t != nullptr) {
          json d = DeploymentObject(ctx_, stable_name_, *t, want, /*stable=*/true);
          auto it = deployments_.find(stable_name_);
          json applied = WithDigest(d);
          if (it != deployments_.end() && DigestOf(it->second) != DigestOf(applied)) {
            // Optimistic concurrency: only over the version decided on.
            applied["metadata"]["resourceVersion"] =
                Str(it->second, json::json_pointer("/metadata/resourceVersion"));
          }
          absl::Status s = ApplyObject(rt_.deployments_.get(), kDeployments, applied, true);
          if (s.code() == absl::StatusCode::kAborted) return s;
          Note(s);
        }
      }
    }
    // Every other revision with replicas, in its own Deployment. During a
    // promotion the revision keeps its own until the stable has rolled out.
    for (const auto& [revision, n] : desired_) {
      if (revision == stable_revision_ && !Promoting()) continue;
      const std::string name = RevisionName(ctx_, service_, revision);
      const int have = Current(name);
      if ((n >= have) != growing) continue;
      Note(ApplyObject(rt_.deployments_.get(), kDeployments,
                       WithDigest(DeploymentObject(ctx_, name, *Template(revision), n, false)),
                       false));
    }
    return absl::OkStatus();
  }

  // The stable Deployment has just been given the revision another
  // Deployment runs, and has not rolled it out yet.
  bool Promoting() const {
    auto own = deployments_.find(RevisionName(ctx_, service_, stable_revision_));
    if (own == deployments_.end() || Deleting(own->second)) return false;
    auto stable = deployments_.find(stable_name_);
    if (stable == deployments_.end()) return true;
    return TemplateRevision(stable->second) != stable_revision_ || !RolledOut(stable->second);
  }

  const runtime::RevisionTemplate* Template(int revision) const {
    auto it = templates_.find(revision);
    return it == templates_.end() ? nullptr : &it->second;
  }

  absl::Status ApplyRoute() {
    std::vector<std::pair<int, int>> weights;
    int total = 0;
    for (int revision : RoutedRevisions()) {
      int w = 0;
      if (ready_[revision] > 0) {
        if (plan_.split && !frozen_) {
          const runtime::RevisionTarget* t = plan_.Find(revision);
          w = t != nullptr ? static_cast<int>(std::lround(t->share * 100)) : 0;
        } else {
          w = frozen_ ? ready_[revision] : std::min(ready_[revision], desired_[revision]);
        }
      }
      weights.emplace_back(revision, w);
      total += w;
    }
    if (total == 0) {
      // Fail open: every revision with ready pods, else every one, equally.
      bool any_ready = false;
      for (auto& [revision, w] : weights) any_ready |= ready_[revision] > 0;
      for (auto& [revision, w] : weights) w = (!any_ready || ready_[revision] > 0) ? 1 : 0;
    }
    if (rt_.env_.router.kind == spec::RouterKind::kAlb) {
      // The chart's Ingress: hut patches its forward action, never creates it.
      if (!rt_.ingresses_->Get(service_, stable_name_)) {
        return absl::FailedPreconditionError(absl::StrCat(
            "router alb: no Ingress ", stable_name_, " of service ", service_, " in namespace ",
            rt_.ns_, " (the chart renders it with router.kind alb)"));
      }
      return ApplyObject(rt_.ingresses_.get(), kIngresses,
                         WithDigest(AlbIngressPatch(ctx_, service_, weights)), false);
    }
    const std::optional<json> live = rt_.routes_->Get(service_, stable_name_);
    return ApplyObject(rt_.routes_.get(), kRoutes,
                       WithDigest(HttpRouteObject(ctx_, service_, weights,
                                                  live ? &*live : nullptr)),
                       false);
  }

  // Deployments of revisions without replicas, once the stable has taken
  // over; Services of revisions no longer routed to.
  void DeleteLeftovers() {
    std::set<std::string> keep = {stable_name_};
    for (const auto& [revision, n] : desired_) {
      if (revision != stable_revision_ || Promoting()) {
        keep.insert(RevisionName(ctx_, service_, revision));
      }
    }
    for (const auto& [name, d] : deployments_) {
      if (keep.contains(name) || Deleting(d) || !ManagedByHut(d)) continue;
      Delete(rt_.deployments_.get(), kDeployments, name, "deployment.deleted");
    }
    std::set<std::string> services = {stable_name_};
    for (int revision : RoutedRevisions()) services.insert(RevisionName(ctx_, service_, revision));
    for (const json& s : rt_.services_->List(service_)) {
      const std::string name = Str(s, json::json_pointer("/metadata/name"));
      if (services.contains(name) || !ManagedByHut(s)) continue;
      Delete(rt_.services_.get(), kServices, name, "service.deleted");
    }
  }

  static bool ManagedByHut(const json& o) { return !DigestOf(o).empty(); }

  // Applies `object` unless the cache shows hut applied the same before.
  absl::Status ApplyObject(Informer* cache, const ResourceType& type, json object, bool stable) {
    if (cache == nullptr) return absl::OkStatus();
    if (!object["metadata"]["annotations"].contains(std::string(kAnnotationApplied))) {
      object = WithDigest(std::move(object));
    }
    const std::string name = Str(object, json::json_pointer("/metadata/name"));
    const std::optional<json> cached = cache->Get(service_, name);
    // A template someone else set is taken back even when it is hut's own
    // (kubectl rollout undo copies hut's annotations with it).
    if (cached && DigestOf(*cached) == DigestOf(object) && SetByOthers(*cached).empty()) {
      return absl::OkStatus();
    }
    absl::StatusOr<json> written = rt_.api_.Apply(Path(rt_.ns_, type, name), object);
    if (!written.ok()) {
      if (stable && written.status().code() == absl::StatusCode::kAborted) {
        // Someone wrote it since the cache saw it: read it and decide again.
        if (auto fresh = rt_.api_.Get(Path(rt_.ns_, type, name)); fresh.ok()) {
          cache->Remember(*fresh);
        }
      }
      return absl::Status(written.status().code(),
                          absl::StrCat(object["kind"].get<std::string>(), " ", name, ": ",
                                       written.status().message()));
    }
    cache->Remember(*written);
    out_.changes.push_back(Describe(object, cached.has_value()));
    return absl::OkStatus();
  }

  runtime::Change Describe(const json& object, bool existed) const {
    const std::string kind = object["kind"].get<std::string>();
    const std::string name = object["metadata"]["name"].get<std::string>();
    if (kind == "Deployment") {
      const int replicas = object["spec"]["replicas"].get<int>();
      const int revision = RevisionLabel(object["spec"]["template"]["metadata"]["labels"]);
      return {existed ? "deployment.updated" : "deployment.created",
              absl::StrCat("Deployment ", name, ": revision ", revision, ", ", replicas,
                           " replicas"),
              {{"deployment", name}, {"revision", revision}, {"replicas", replicas}}};
    }
    if (kind == "HTTPRoute") {
      json weights = json::object();
      std::vector<std::string> parts;
      for (const json& ref : object["spec"]["rules"][0]["backendRefs"]) {
        weights[ref["name"].get<std::string>()] = ref["weight"];
        parts.push_back(absl::StrCat(ref["name"].get<std::string>(), "=", ref["weight"].get<int>()));
      }
      return {"route.weights", absl::StrCat("HTTPRoute ", name, ": ", absl::StrJoin(parts, ", ")),
              {{"route", name}, {"weights", weights}}};
    }
    if (kind == "ServiceScale") {
      const int replicas = object["spec"]["replicas"].get<int>();
      return {"scale.created",
              absl::StrCat("ServiceScale ", name, ": ", replicas,
                           " replicas until its autoscaler sets them"),
              {{"name", name}, {"replicas", replicas}}};
    }
    return {existed ? "service.updated" : "service.created", absl::StrCat(kind, " ", name),
            {{"name", name}, {"kind", kind}}};
  }

  void Delete(Informer* cache, const ResourceType& type, const std::string& name,
              const char* change) {
    absl::Status s = rt_.api_.Delete(Path(rt_.ns_, type, name));
    if (!s.ok()) {
      Note(absl::Status(s.code(), absl::StrCat("deleting ", type.plural, "/", name, ": ", s.message())));
      return;
    }
    cache->Forget(service_, name);
    out_.changes.push_back({change, absl::StrCat("deleted ", type.plural, "/", name), {{"name", name}}});
  }

  void Note(const absl::Status& s) {
    if (!s.ok() && first_error_.ok()) first_error_ = s;
  }

  // Autoscaling on: the service's ServiceScale exists (created once with
  // the spec's count: its spec.replicas is the HPA's from then on) and its
  // status counts the service's pods now.
  absl::Status ApplyScale() {
    if (rt_.scales_ == nullptr) return absl::OkStatus();
    const std::optional<json> cached = rt_.scales_->Get(service_, stable_name_);
    if (!cached) {
      const spec::ServiceDeployment* d = rt_.env_.FindService(service_);
      const spec::AutoscalingPolicy& a = rt_.env_.policies.autoscaling;
      const int initial = std::clamp(d ? d->replicas : a.min_replicas, a.min_replicas, a.max_replicas);
      return ApplyObject(rt_.scales_.get(), kServiceScales,
                         ServiceScaleObject(ctx_, service_, initial), false);
    }
    const json status = ServiceScaleStatus(ctx_, service_, pod_count_);
    if ((*cached)["status"] == status["status"]) return absl::OkStatus();
    absl::StatusOr<json> written =
        rt_.api_.Apply(Path(rt_.ns_, kServiceScales, stable_name_) + "/status", status);
    if (!written.ok()) {
      return absl::Status(written.status().code(),
                          absl::StrCat("ServiceScale ", stable_name_, " status: ",
                                       written.status().message()));
    }
    rt_.scales_->Remember(*written);
    return absl::OkStatus();
  }

  KubernetesRuntime& rt_;
  std::map<std::string, int>& reported_out_of_band_;  // the runtime's, under apply_mu_
  const ObjectContext ctx_;
  const std::string& service_;
  const runtime::ServicePlan& plan_;
  const std::map<int, runtime::RevisionTemplate>& templates_;
  runtime::ApplyResult& out_;
  const std::string stable_name_;
  std::map<std::string, json> deployments_;
  std::map<int, int> ready_;    // revision -> ready pods
  int pod_count_ = 0;           // every revision's, not deleting
  std::map<int, int> desired_;  // revision -> replicas, those with any
  int stable_revision_ = 0;
  bool frozen_ = false;  // following a change made outside hut
  absl::Status first_error_;
};

KubernetesRuntime::KubernetesRuntime(const spec::Spec& spec, const spec::Environment& env,
                                     ClusterAccess access, Clock& clock,
                                     KubernetesRuntimeOptions options)
    : spec_(spec),
      env_(env),
      clock_(clock),
      options_(options),
      ns_(env.namespace_),
      api_(std::move(access), options.request_timeout) {
  auto cache = [&](const ResourceType& type, Informer::Transform trim) {
    Informer::Options o;
    o.ns = ns_;
    o.type = type;
    o.label_selector = kServiceSelector;
    o.index_label = std::string(kLabelService);
    o.transform = std::move(trim);
    o.watch_timeout = options_.watch_timeout;
    o.on_change = [this](const std::string& service) { Changed(service); };
    return std::make_unique<Informer>(api_, std::move(o));
  };
  deployments_ = cache(kDeployments, TrimDeployment);
  pods_ = cache(kPods, TrimPod);
  services_ = cache(kServices, TrimService);
  if (env.router.kind == spec::RouterKind::kGatewayApi) routes_ = cache(kRoutes, TrimRoute);
  if (env.router.kind == spec::RouterKind::kAlb) ingresses_ = cache(kIngresses, TrimIngress);
  if (env.policies.autoscaling.enabled) scales_ = cache(kServiceScales, TrimServiceScale);
}

std::vector<Informer*> KubernetesRuntime::Caches() const {
  std::vector<Informer*> out;
  for (Informer* i :
       {deployments_.get(), pods_.get(), services_.get(), routes_.get(), ingresses_.get(),
        scales_.get()}) {
    if (i != nullptr) out.push_back(i);
  }
  return out;
}

KubernetesRuntime::~KubernetesRuntime() {
  for (Informer* i : Caches()) i->Stop();
}

absl::StatusOr<std::unique_ptr<KubernetesRuntime>> KubernetesRuntime::Start(
    const spec::Spec& spec, const spec::Environment& environment, ClusterAccess access,
    Clock& clock, KubernetesRuntimeOptions options) {
  for (const spec::Service& s : spec.services) {
    if (s.release.image.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "environment ", environment.name, " runs on kubernetes, which runs container images, "
          "and service ", s.name, " has no release.image"));
    }
  }
  const std::string server = access.server;
  std::unique_ptr<KubernetesRuntime> rt(
      new KubernetesRuntime(spec, environment, std::move(access), clock, options));
  // The namespace, as hut's Role allows (get on its own namespace only).
  absl::StatusOr<json> ns = rt->api_.Get(ObjectPath("/api/v1", "", "namespaces", rt->ns_));
  if (!ns.ok()) {
    const absl::StatusCode code = ns.status().code();
    if (code == absl::StatusCode::kNotFound) {
      return absl::FailedPreconditionError(absl::StrCat(
          "environment ", environment.name, ": namespace ", rt->ns_, " does not exist on ", server,
          " (create it: kubectl apply -f k8s/base/namespace.yaml)"));
    }
    if (code != absl::StatusCode::kUnavailable && code != absl::StatusCode::kDeadlineExceeded) {
      return absl::Status(code, absl::StrCat("environment ", environment.name, ": ", server,
                                             ": namespace ", rt->ns_, ": ", ns.status().message()));
    }
  }
  for (Informer* i : rt->Caches()) i->Start();
  if (ns.ok()) {
    for (Informer* i : rt->Caches()) {
      absl::Status s = i->WaitForSync(options.sync_timeout);
      // Refused lists (RBAC, a CRD that is not installed) are the operator's
      // to fix: say so now rather than pause every rollout.
      if (!s.ok() && i == rt->scales_.get() && i->problem().find("404") != std::string::npos) {
        return absl::FailedPreconditionError(absl::StrCat(
            "environment ", environment.name, " has autoscaling on, and ", server,
            " does not serve ServiceScale (hut.foohut.dev/v1), which its HPAs scale: install "
            "hut's CRDs (kubectl apply -f k8s/charts/hut/crds/; helm installs them with the hut "
            "chart) or set policies.autoscaling.enabled: false"));
      }
      if (!s.ok() && (i->problem().find("forbidden") != std::string::npos ||
                      i->problem().find("404") != std::string::npos)) {
        return absl::FailedPreconditionError(
            absl::StrCat("environment ", environment.name, ": ", s.message()));
      }
    }
  }
  return rt;
}

std::string KubernetesRuntime::CacheProblem() const {
  std::vector<std::string> problems;
  for (const Informer* i : Caches()) {
    if (!i->synced()) {
      problems.push_back(i->problem().empty() ? "caches still filling" : i->problem());
    } else if (!i->problem().empty()) {
      problems.push_back(i->problem());
    }
  }
  std::sort(problems.begin(), problems.end());
  problems.erase(std::unique(problems.begin(), problems.end()), problems.end());
  return absl::StrJoin(problems, "; ");
}

Informer::Stats KubernetesRuntime::cache_stats() const {
  Informer::Stats sum;
  for (const Informer* i : Caches()) {
    const Informer::Stats s = i->stats();
    sum.lists += s.lists;
    sum.watches += s.watches;
    sum.relists_after_gone += s.relists_after_gone;
    sum.events += s.events;
    sum.bookmarks += s.bookmarks;
  }
  return sum;
}

runtime::ApplyResult KubernetesRuntime::Apply(
    const std::string& service, const runtime::ServicePlan& plan,
    const std::map<int, runtime::RevisionTemplate>& templates) {
  absl::MutexLock lock(&apply_mu_);
  runtime::ApplyResult out;
  if (spec_.FindService(service) == nullptr) {
    out.status = absl::NotFoundError(absl::StrCat("no service ", service, " in the spec"));
    return out;
  }
  if (std::string problem = CacheProblem(); !problem.empty()) {
    out.status = absl::UnavailableError(
        absl::StrCat("the state of namespace ", ns_, " is not known: ", problem));
    return out;
  }
  const uint64_t version = VersionOf(service);
  if (auto it = settled_.find(service); it != settled_.end() && it->second.version == version &&
                                        it->second.plan == plan &&
                                        it->second.templates == templates) {
    return out;
  }
  // A conflict on the stable Deployment: decide again over what it is now.
  for (int attempt = 0; attempt < 3; ++attempt) {
    out.status = Pass(*this, service, plan, templates, reported_out_of_band_, out).Run();
    if (out.status.code() != absl::StatusCode::kAborted) break;
  }
  if (out.status.ok() && out.changes.empty()) {
    settled_[service] = Settled{plan, templates, version};
  } else {
    settled_.erase(service);
  }
  return out;
}

uint64_t KubernetesRuntime::VersionOf(const std::string& service) const {
  absl::MutexLock lock(&versions_mu_);
  auto it = changed_at_.find(service);
  return std::max(all_changed_at_, it == changed_at_.end() ? 0 : it->second);
}

void KubernetesRuntime::Changed(const std::string& service) {
  absl::MutexLock lock(&versions_mu_);
  ++changes_;
  if (service.empty()) {
    all_changed_at_ = changes_;
  } else {
    changed_at_[service] = changes_;
  }
}

absl::StatusOr<runtime::Observation> KubernetesRuntime::Observe(const std::string& service) {
  const spec::Service* svc = spec_.FindService(service);
  if (svc == nullptr) return absl::NotFoundError(absl::StrCat("no service ", service, " in the spec"));
  if (std::string problem = CacheProblem(); !problem.empty()) {
    return absl::UnavailableError(
        absl::StrCat("the state of namespace ", ns_, " is not known: ", problem));
  }
  const uint64_t version = VersionOf(service);
  {
    absl::MutexLock lock(&observed_mu_);
    if (auto it = observed_.find(service); it != observed_.end() && it->second.version == version) {
      return it->second.observation;
    }
  }
  runtime::Observation out;
  const TimePoint now = clock_.Now();
  const ObjectContext ctx{spec_, env_};
  // During a hand-over the revision's replicas are those of its own
  // Deployment until the stable one has rolled it out and that one goes:
  // the plan's count, not both sets.
  const std::string stable_name = WorkloadName(ctx, service);
  std::set<std::string> live;
  for (const json& d : deployments_->List(service)) {
    if (!Deleting(d)) live.insert(Str(d, json::json_pointer("/metadata/name")));
  }
  int handing_over = 0;
  if (std::optional<json> stable = deployments_->Get(service, stable_name);
      stable && !Deleting(*stable)) {
    const int revision = TemplateRevision(*stable);
    if (live.contains(RevisionName(ctx, service, revision))) handing_over = revision;
    if (const json managers = SetByOthers(*stable); !managers.empty()) {
      std::vector<std::string> by;
      for (const json& m : managers) by.push_back(m.is_string() ? m.get<std::string>() : m.dump());
      out.out_of_band = runtime::OutOfBand{revision, absl::StrJoin(by, ", "), RolledOut(*stable)};
    }
  }
  std::map<int, int> ready;
  for (const json& pod : pods_->List(service)) {
    const std::string owner = OwnerDeployment(pod);
    const bool stables_old = handing_over != 0 && owner == stable_name;
    if (stables_old &&
        RevisionLabel(pod.value(json::json_pointer("/metadata/labels"), json())) == handing_over) {
      continue;
    }
    PodReading reading = ReadPod(pod, svc->health, now);
    // Its Deployment is gone (the garbage collector is taking it away), or it
    // is the stable's pod of an older revision, which the stable's own
    // rolling update to `handing_over` is replacing: not a replica to keep.
    if ((!owner.empty() && !live.contains(owner)) || stables_old) {
      reading.replica.state = runtime::ReplicaState::kDraining;
      reading.replica.serving = false;
    }
    if (reading.cannot_start) out.cannot_start.emplace(reading.replica.revision, *reading.cannot_start);
    if (reading.replica.serving) ++ready[reading.replica.revision];
    out.replicas.push_back(std::move(reading.replica));
  }
  std::sort(out.replicas.begin(), out.replicas.end(),
            [](const runtime::Replica& a, const runtime::Replica& b) { return a.name < b.name; });

  // Traffic: the router's weights; without one, the Service spreads it over
  // every ready pod.
  std::map<int, double> weights;
  const std::string prefix = WorkloadName(ctx, service) + "-r";
  auto weigh = [&](const std::string& backend, const json& weight) {
    int revision = 0;
    if (backend.starts_with(prefix) && absl::SimpleAtoi(backend.substr(prefix.size()), &revision) &&
        ready[revision] > 0) {
      weights[revision] += weight.is_number() ? weight.get<double>() : 1.0;
    }
  };
  if (routes_ != nullptr) {
    if (std::optional<json> route = routes_->Get(service, WorkloadName(ctx, service))) {
      for (const json& ref : route->value("backendRefs", json::array())) {
        weigh(ref.value("name", ""), ref.value("weight", json()));
      }
    }
  }
  if (ingresses_ != nullptr) {
    if (std::optional<json> ingress = ingresses_->Get(service, WorkloadName(ctx, service))) {
      const json& actions = (*ingress)["actions"];
      auto it = actions.find(AlbActionAnnotation(ctx, service));
      const json action = it != actions.end() && it->is_string()
                              ? json::parse(it->get<std::string>(), nullptr, false)
                              : json();
      const json groups = action.is_object()
                              ? action.value(json::json_pointer("/forwardConfig/targetGroups"),
                                             json::array())
                              : json::array();
      for (const json& g : groups.is_array() ? groups : json::array()) {
        if (g.is_object()) weigh(g.value("serviceName", ""), g.value("weight", json()));
      }
    }
  }
  if (weights.empty()) {
    for (const auto& [revision, n] : ready) weights[revision] = n;
  }
  double total = 0;
  for (const auto& [revision, w] : weights) total += w;
  for (const auto& [revision, w] : weights) {
    if (w > 0 && total > 0) out.traffic[revision] = w / total;
  }
  if (scales_ != nullptr) {
    if (std::optional<json> scale = scales_->Get(service, stable_name)) {
      const json& replicas = (*scale)["spec"]["replicas"];
      const spec::AutoscalingPolicy& a = env_.policies.autoscaling;
      if (replicas.is_number_integer()) {
        out.scale = std::clamp(replicas.get<int>(), a.min_replicas, a.max_replicas);
      }
    }
  }
  bool starting = false;
  for (runtime::Replica& r : out.replicas) {
    r.details["weight"] = out.traffic.contains(r.revision) ? out.traffic[r.revision] : 0.0;
    starting |= r.state == runtime::ReplicaState::kStarting;
  }
  absl::MutexLock lock(&observed_mu_);
  if (starting) {
    observed_.erase(service);
  } else {
    observed_[service] = Observed{version, out};
  }
  return out;
}

}  // namespace hut::kubernetes
