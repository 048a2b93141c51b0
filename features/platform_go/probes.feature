@probes
Feature: platform-go health checks and image pulls
  Workloads have a liveness probe on HTTP /health port 8080 starting after 10 s, every 5 s;
  stable images are pulled IfNotPresent.

  Background:
    Given the system "platform_go"

  @offline @declared @normal
  Scenario Outline: The <workload> has the documented liveness probe
    Source: Kubernetes Architecture Analysis (platform-go) § Best Practices › Health Checks
    Then the container "<container>" of the Deployment "<namespace>/<workload>" has a liveness probe on HTTP GET /health port 8080
    And the container "<container>" of the Deployment "<namespace>/<workload>" declares livenessProbe.initialDelaySeconds = 10
    And the container "<container>" of the Deployment "<namespace>/<workload>" declares livenessProbe.periodSeconds = 5

    Examples:
      | namespace         | workload    | container   |
      | platform-go       | platform-go | platform-go |
      | user-john-storage | filebrowser | filebrowser |

  @offline @declared @minor
  Scenario: Stable images are pulled only when not present
    Source: Kubernetes Architecture Analysis (platform-go) § Best Practices › Image Pull Policies
    Then every container of the Deployment "platform-go/platform-go" declares imagePullPolicy = IfNotPresent
    And every container of the Deployment "user-john-storage/filebrowser" declares imagePullPolicy = IfNotPresent

  @live @observed @normal
  Scenario: The platform becomes ready on a live cluster
    Source: Kubernetes Architecture Analysis (platform-go) § Best Practices › Health Checks
    Given the system is deployed
    Then the Deployment "platform-go/platform-go" reaches 2 ready replicas

  @live @observed @normal
  Scenario: The platform and the file browser answer their liveness path on a live cluster
    Source: Kubernetes Architecture Analysis (platform-go) § Best Practices › Health Checks
    Given the system is deployed
    Then every pod of the Deployment "platform-go/platform-go" answers HTTP GET /health on port 8080
    And every pod of the Deployment "user-john-storage/filebrowser" answers HTTP GET /health on port 8080

  @live @observed @destructive @normal
  Scenario: A platform pod failing its liveness probe is restarted within the probe's budget
    Source: Kubernetes Architecture Analysis (platform-go) § Best Practices › Health Checks
    Given the system is deployed
    When one pod of the Deployment "platform-go/platform-go" starts failing its liveness probe
    Then the pod is restarted within its liveness probe budget
