@rbac
Feature: TByte application RBAC
  The application reads pods, services and config maps and nothing more.

  Background:
    Given the system "tbyte"

  @offline @declared @normal
  Scenario: The app-reader Role grants get, list and watch on pods, services and config maps
    Source: Kubernetes Architecture - TByte Microservices Platform § Security Compliance › RBAC Configuration
    Then the Role "tbyte/app-reader" grants "get, list, watch" on "pods, services, configmaps" in the "core" API group

  @offline @modeled @critical
  Scenario: The application service account can read pods but cannot change them or read secrets
    Source: Kubernetes Architecture - TByte Microservices Platform § Security Compliance › RBAC Configuration
    Then the ServiceAccount "tbyte/tbyte-app" can "list" "pods" in namespace "tbyte"
    And the ServiceAccount "tbyte/tbyte-app" can "watch" "configmaps" in namespace "tbyte"
    And the ServiceAccount "tbyte/tbyte-app" cannot "delete" "pods" in namespace "tbyte"
    And the ServiceAccount "tbyte/tbyte-app" cannot "get" "secrets" in namespace "tbyte"
    And the ServiceAccount "tbyte/tbyte-app" cannot "list" "pods" in namespace "monitoring"

  @offline @modeled @critical
  Scenario: No service account gets cluster-admin or wildcard permissions
    Source: Kubernetes Architecture - TByte Microservices Platform § Security Compliance › Network Security
    Then no service account of the system is granted cluster-admin or wildcard permissions

  @live @observed @critical
  Scenario: The API server grants the application service account exactly what app-reader lists
    Source: Kubernetes Architecture - TByte Microservices Platform § Security Compliance › RBAC Configuration
    Given the system is deployed
    Then the API server grants the ServiceAccount "tbyte/tbyte-app" exactly these permissions in namespace "tbyte":
      | resource   | verbs            |
      | pods       | get, list, watch |
      | services   | get, list, watch |
      | configmaps | get, list, watch |
    And the API server forbids the ServiceAccount "tbyte/tbyte-app" to "list" "pods" in namespace "monitoring"
    And the API server does not grant the ServiceAccount "tbyte/tbyte-app" cluster-admin
