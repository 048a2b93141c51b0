@security
Feature: TByte pod security
  Application pods run as user 1000, non-root, with a read-only root filesystem, no privilege
  escalation, all capabilities dropped but NET_BIND_SERVICE; application pods meet the Restricted
  Pod Security Standard, system pods the Baseline one.

  Background:
    Given the system "tbyte"

  @offline @declared @critical
  Scenario Outline: The <tier> containers run with the documented security context
    Source: Kubernetes Architecture - TByte Microservices Platform § Pod Security & Resource Management
    Then every container of the Deployment "tbyte/<tier>" declares securityContext.runAsNonRoot = true
    And every container of the Deployment "tbyte/<tier>" declares securityContext.runAsUser = 1000
    And every container of the Deployment "tbyte/<tier>" declares securityContext.readOnlyRootFilesystem = true
    And every container of the Deployment "tbyte/<tier>" declares securityContext.allowPrivilegeEscalation = false
    And every container of the Deployment "tbyte/<tier>" declares securityContext.capabilities.drop = [ALL]
    And every container of the Deployment "tbyte/<tier>" declares securityContext.capabilities.add = [NET_BIND_SERVICE]

    Examples:
      | tier     |
      | frontend |
      | backend  |

  @offline @declared @critical
  Scenario: The application namespace enforces Restricted and the system namespaces Baseline
    Source: Kubernetes Architecture - TByte Microservices Platform § Security Compliance › Pod Security Standards
    Then the namespace "tbyte" enforces the "restricted" Pod Security Standard
    And the namespace "monitoring" enforces the "baseline" Pod Security Standard
    And the namespace "logging" enforces the "baseline" Pod Security Standard

  @offline @modeled @critical
  Scenario: Every application pod meets the Restricted Pod Security Standard
    Source: Kubernetes Architecture - TByte Microservices Platform § Security Compliance › Pod Security Standards
    Then every workload in namespace "tbyte" meets the "restricted" Pod Security Standard

  @offline @modeled @normal
  Scenario: Every monitoring and logging pod meets the Baseline Pod Security Standard
    Source: Kubernetes Architecture - TByte Microservices Platform § Security Compliance › Pod Security Standards
    Then every workload in namespace "monitoring" meets the "baseline" Pod Security Standard
    And every workload in namespace "logging" meets the "baseline" Pod Security Standard

  @live @observed @critical
  Scenario: The application namespace refuses a privileged pod on a live cluster, the system namespaces too
    Source: Kubernetes Architecture - TByte Microservices Platform § Security Compliance › Pod Security Standards
    Given the system is deployed
    Then the namespace "tbyte" rejects a privileged pod under the "restricted" Pod Security Standard
    And the namespace "monitoring" rejects a privileged pod under the "baseline" Pod Security Standard
    And the namespace "logging" rejects a privileged pod under the "baseline" Pod Security Standard

  @live @observed @critical
  Scenario Outline: The <tier> containers really run as user 1000, read-only, with no capability but NET_BIND_SERVICE
    Source: Kubernetes Architecture - TByte Microservices Platform § Pod Security & Resource Management
    Given the system is deployed
    Then every container of the Deployment "tbyte/<tier>" runs as user 1000
    And every container of the Deployment "tbyte/<tier>" has a read-only root filesystem
    And every container of the Deployment "tbyte/<tier>" runs with no capabilities except "NET_BIND_SERVICE"
    And every container of the Deployment "tbyte/<tier>" cannot escalate privileges

    Examples:
      | tier     |
      | frontend |
      | backend  |
