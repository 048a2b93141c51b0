@rbac
Feature: ITDO ERP operator RBAC
  The app-operator service account reads pods, services and config maps and may patch
  deployments in production, nothing more.

  Background:
    Given the system "itdo_erp"

  @offline @declared @normal
  Scenario: The app-operator Role grants exactly the documented verbs and is bound to its service account
    Source: Kubernetes Architecture Design for ITDO ERP v2 § Security Architecture › RBAC Configuration
    Then the Role "itdo-erp-prod/app-operator" grants "get, list, watch" on "pods, services, configmaps" in the "core" API group
    And the Role "itdo-erp-prod/app-operator" grants "get, list, watch, patch" on "deployments" in the "apps" API group
    And the RoleBinding "itdo-erp-prod/app-operator-binding" declares roleRef.name = app-operator
    And the RoleBinding "itdo-erp-prod/app-operator-binding" declares subjects[0].name = app-operator

  @offline @modeled @critical
  Scenario: The operator can patch deployments in production but not delete them, read secrets or act elsewhere
    Source: Kubernetes Architecture Design for ITDO ERP v2 § Security Architecture › RBAC Configuration
    Then the ServiceAccount "itdo-erp-prod/app-operator" can "patch" "deployments.apps" in namespace "itdo-erp-prod"
    And the ServiceAccount "itdo-erp-prod/app-operator" can "list" "pods" in namespace "itdo-erp-prod"
    And the ServiceAccount "itdo-erp-prod/app-operator" cannot "delete" "deployments.apps" in namespace "itdo-erp-prod"
    And the ServiceAccount "itdo-erp-prod/app-operator" cannot "get" "secrets" in namespace "itdo-erp-prod"
    And the ServiceAccount "itdo-erp-prod/app-operator" cannot "patch" "deployments.apps" in namespace "itdo-erp-staging"
    And no service account of the system is granted cluster-admin or wildcard permissions

  @live @observed @critical
  Scenario: The API server lets the operator read and patch deployments in production, nothing more
    Source: Kubernetes Architecture Design for ITDO ERP v2 § Security Architecture › RBAC Configuration
    Given the system is deployed
    Then the API server grants the ServiceAccount "itdo-erp-prod/app-operator" exactly these permissions in namespace "itdo-erp-prod":
      | resource         | verbs                   |
      | pods             | get, list, watch        |
      | services         | get, list, watch        |
      | configmaps       | get, list, watch        |
      | deployments.apps | get, list, watch, patch |
    And the API server forbids the ServiceAccount "itdo-erp-prod/app-operator" to "patch" "deployments.apps" in namespace "itdo-erp-staging"
    And the API server does not grant the ServiceAccount "itdo-erp-prod/app-operator" cluster-admin
