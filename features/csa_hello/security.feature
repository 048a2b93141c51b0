@security
Feature: CSA Hello pod security and access control
  Pods run with restricted security contexts and capabilities, and access to the Kubernetes API
  is granted narrowly.

  Background:
    Given the system "csa_hello"

  @offline @modeled @normal
  Scenario: The messenger pods restrict capabilities and privilege
    Source: Kubernetes Architecture for CSA Hello § Security Considerations
    Then the Deployment "messenger-system/messenger-service" meets the "restricted" Pod Security Standard

  @offline @modeled @normal
  Scenario: The auth pods restrict capabilities and privilege
    Source: Kubernetes Architecture for CSA Hello § Security Considerations
    Then the Deployment "auth-system/auth-service" meets the "restricted" Pod Security Standard

  @offline @modeled @normal
  Scenario: Every workload of the platform meets at least the baseline Pod Security Standard
    Source: Kubernetes Architecture for CSA Hello § Security Considerations
    Then every workload in namespace "storage-system" meets the "baseline" Pod Security Standard
    And every workload in namespace "messenger-system" meets the "baseline" Pod Security Standard
    And every workload in namespace "auth-system" meets the "baseline" Pod Security Standard

  @offline @modeled @critical
  Scenario: No service account is granted cluster-admin or wildcard permissions
    Source: Kubernetes Architecture for CSA Hello § Security Considerations
    Then no service account of the system is granted cluster-admin or wildcard permissions

  @offline @declared @normal @known_gap @gap:csa-pod-security-policy-removed
  Scenario: The application namespaces enforce pod security at admission
    Source: Kubernetes Architecture for CSA Hello § Security Considerations
    Then the namespace "messenger-system" enforces the "baseline" Pod Security Standard
    And the namespace "auth-system" enforces the "baseline" Pod Security Standard

  @live @observed @normal @known_gap @gap:csa-pod-security-policy-removed
  Scenario: The application namespaces refuse a privileged pod on a live cluster
    Source: Kubernetes Architecture for CSA Hello § Security Considerations
    Given the system is deployed
    Then the namespace "messenger-system" rejects a privileged pod under the "baseline" Pod Security Standard
    And the namespace "auth-system" rejects a privileged pod under the "baseline" Pod Security Standard

  @live @observed @normal
  Scenario Outline: The <service> pods really run without root, capabilities or privilege escalation
    Source: Kubernetes Architecture for CSA Hello § Security Considerations
    Given the system is deployed
    Then every container of the Deployment "<namespace>/<service>" runs as a non-root user
    And every container of the Deployment "<namespace>/<service>" runs with no capabilities
    And every container of the Deployment "<namespace>/<service>" cannot escalate privileges

    Examples:
      | namespace        | service           |
      | messenger-system | messenger-service |
      | auth-system      | auth-service      |
