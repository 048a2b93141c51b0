@gitops
Feature: TByte GitOps with Argo CD
  An app of apps deploys in three sync waves: infrastructure (Karpenter, KEDA, Secrets Store CSI),
  platform (Prometheus stack, Loki stack, Vault), business (frontend, backend, PostgreSQL).

  Background:
    Given the system "tbyte"

  @offline @declared @normal
  Scenario: The Argo CD applications sync in three waves from the chiju/tbyte repository
    Source: Kubernetes Architecture - TByte Microservices Platform § GitOps Deployment Flow
    Given the system "tbyte" with its custom resources
    Then the Application "argocd/tbyte-apps" declares spec.source.repoURL = https://github.com/chiju/tbyte
    And the Application "argocd/karpenter" declares metadata.annotations["argocd.argoproj.io/sync-wave"] = "1"
    And the Application "argocd/keda" declares metadata.annotations["argocd.argoproj.io/sync-wave"] = "1"
    And the Application "argocd/secrets-store-csi-driver" declares metadata.annotations["argocd.argoproj.io/sync-wave"] = "1"
    And the Application "argocd/kube-prometheus-stack" declares metadata.annotations["argocd.argoproj.io/sync-wave"] = "2"
    And the Application "argocd/loki-stack" declares metadata.annotations["argocd.argoproj.io/sync-wave"] = "2"
    And the Application "argocd/vault" declares metadata.annotations["argocd.argoproj.io/sync-wave"] = "2"
    And the Application "argocd/frontend" declares metadata.annotations["argocd.argoproj.io/sync-wave"] = "3"
    And the Application "argocd/backend" declares metadata.annotations["argocd.argoproj.io/sync-wave"] = "3"
    And the Application "argocd/postgresql" declares metadata.annotations["argocd.argoproj.io/sync-wave"] = "3"
