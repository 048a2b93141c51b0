@gitops
Feature: ITDO ERP GitOps
  Argo CD syncs production from the environments/production path automatically, pruning and
  self-healing, creating the namespace.

  Background:
    Given the system "itdo_erp"

  @offline @declared @normal
  Scenario: The production Application syncs automatically with prune and self-heal
    Source: Kubernetes Architecture Design for ITDO ERP v2 § GitOps Integration › Application Definition
    Given the system "itdo_erp" with its custom resources
    Then the Application "argocd/itdo-erp-prod" declares:
      | field                                  | value                                   |
      | spec.source.repoURL                    | https://github.com/company/itdo-erp-k8s |
      | spec.source.path                       | environments/production                 |
      | spec.destination.namespace             | itdo-erp-prod                           |
      | spec.syncPolicy.automated.prune        | true                                    |
      | spec.syncPolicy.automated.selfHeal     | true                                    |
      | spec.syncPolicy.syncOptions            | [CreateNamespace=true]                  |
